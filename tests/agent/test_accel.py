"""The accelerator probe runs a real guest; its answer is cached and overridable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gureum.agent.hypervisor import accel as accel_module
from gureum.agent.hypervisor.accel import Accel, ProbeResult, accel_arguments, detect_accel, prefer, run_probe


def test_probe_guest_reaches_long_mode_under_tcg() -> None:
    result = run_probe(Accel.TCG)
    assert result.finished, "the probe guest did not finish under TCG; is qemu-system-x86 installed?"
    assert result.seconds < accel_module.PROBE_TIMEOUT_SECONDS


def test_probe_that_times_out_is_a_failure() -> None:
    # 20 million loop iterations do not fit in a millisecond on any accelerator.
    result = run_probe(Accel.TCG, timeout_seconds=0.001)
    assert not result.finished


def test_override_wins_without_probing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(accel_module, "choose_accel", _must_not_probe)
    assert detect_accel(tmp_path / "accel.json", override="tcg") is Accel.TCG
    monkeypatch.setenv("GUREUM_ACCEL", "kvm")
    assert detect_accel(tmp_path / "accel.json") is Accel.KVM
    assert not (tmp_path / "accel.json").exists()


def test_result_is_cached_per_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GUREUM_ACCEL", raising=False)
    cache = tmp_path / "accel.json"
    monkeypatch.setattr(accel_module, "choose_accel", lambda: Accel.TCG)
    assert detect_accel(cache) is Accel.TCG
    assert json.loads(cache.read_text())["accel"] == "tcg"

    monkeypatch.setattr(accel_module, "choose_accel", _must_not_probe)
    assert detect_accel(cache) is Accel.TCG

    # Another host kernel or QEMU version invalidates the cached answer.
    saved = json.loads(cache.read_text())
    saved["host"]["kernel"] = "some-other-kernel"
    cache.write_text(json.dumps(saved))
    with pytest.raises(AssertionError, match="probed"):
        detect_accel(cache)


def test_kvm_is_chosen_only_when_it_really_runs_guests() -> None:
    if not Path("/dev/kvm").exists():
        pytest.skip("no /dev/kvm on this host")
    tcg, kvm = run_probe(Accel.TCG), run_probe(Accel.KVM)
    print(f"probe: tcg {tcg.seconds:.2f}s finished={tcg.finished}, kvm {kvm.seconds:.2f}s finished={kvm.finished}")
    if not kvm.finished:
        assert prefer(tcg, kvm) is Accel.TCG
    elif tcg.finished:
        assert prefer(tcg, kvm) is (Accel.KVM if kvm.seconds <= tcg.seconds else Accel.TCG)


def test_a_kvm_that_crawls_loses_to_tcg() -> None:
    # What this repository's CI hosts do: KVM opens, but runs guest code ~100x slower.
    assert prefer(ProbeResult(Accel.TCG, True, 0.4), ProbeResult(Accel.KVM, False, 8.0)) is Accel.TCG
    assert prefer(ProbeResult(Accel.TCG, True, 0.4), ProbeResult(Accel.KVM, True, 5.0)) is Accel.TCG
    assert prefer(ProbeResult(Accel.TCG, True, 0.4), ProbeResult(Accel.KVM, True, 0.05)) is Accel.KVM


def test_tcg_uses_a_small_translation_cache() -> None:
    assert accel_arguments(Accel.TCG) == ["-accel", "tcg,tb-size=32"]
    assert accel_arguments(Accel.KVM)[:2] == ["-accel", "kvm"]


def _must_not_probe() -> Accel:
    raise AssertionError("probed although the answer was known")
