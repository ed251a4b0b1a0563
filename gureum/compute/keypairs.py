"""Keypairs: per-user public keys, generated or imported, with nova's fingerprints.

No HTTP here. A generated ssh key is RSA 2048 written as a traditional PEM
("BEGIN RSA PRIVATE KEY"), which every OpenSSH accepts, as nova's was. An x509
keypair is a self-signed certificate; its private key goes back base64 PKCS#12.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gureum.compute import quotas
from gureum.compute.models import KeyPair
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound

TYPE_SSH = "ssh"
TYPE_X509 = "x509"
# Key types OpenSSH has and the cryptography package reads.
SSH_KEY_TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


def invalid(reason: str) -> BadRequest:
    return BadRequest(f"Keypair data is invalid: {reason}")


def _colons(hex_digest: str) -> str:
    return ":".join(hex_digest[i:i + 2] for i in range(0, len(hex_digest), 2))


def ssh_fingerprint(public_key: str) -> str:
    """Nova's fingerprint: MD5 of the key blob, in colon-separated hex; 400 naming the problem."""
    text = public_key.strip()
    parts = text.split()
    if len(parts) < 2:
        raise invalid("failed to generate fingerprint: expected an OpenSSH public key such as "
                      "'ssh-ed25519 AAAA... comment'")
    key_type, blob = parts[0], parts[1]
    if key_type not in SSH_KEY_TYPES:
        raise invalid(f"failed to generate fingerprint: unknown key type {key_type!r} "
                      f"(expected one of {', '.join(SSH_KEY_TYPES)})")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid("failed to generate fingerprint: the key data is not valid base64") from exc
    try:
        serialization.load_ssh_public_key(f"{key_type} {blob}".encode())
    except (ValueError, TypeError) as exc:
        raise invalid(f"failed to generate fingerprint: not a valid {key_type} key ({exc})") from exc
    return _colons(hashlib.md5(raw, usedforsecurity=False).hexdigest())


def x509_fingerprint(pem: str) -> str:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, TypeError) as exc:
        raise invalid(f"failed to generate X509 fingerprint. Error message: {exc}") from exc
    return _colons(cert.fingerprint(hashes.SHA1()).hex())


def fingerprint(public_key: str, key_type: str) -> str:
    return x509_fingerprint(public_key) if key_type == TYPE_X509 else ssh_fingerprint(public_key)


def generate_ssh() -> tuple[str, str, str]:
    """(private key PEM, public key line, fingerprint) for a new RSA 2048 key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    public = f"{public} Generated-by-Nova"
    return private, public, ssh_fingerprint(public)


def generate_x509(user_id: str) -> tuple[str, str, str]:
    """(base64 PKCS#12 private key, certificate PEM, fingerprint), as nova's WinRM certificates."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    now = datetime.now(timezone.utc)
    upn = x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"),
                         b"\x0c" + bytes([len(f"{user_id}@localhost")]) + f"{user_id}@localhost".encode())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([upn]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate = cert.public_bytes(serialization.Encoding.PEM).decode()
    bundle = pkcs12.serialize_key_and_certificates(None, key, cert, None, serialization.NoEncryption())
    return base64.b64encode(bundle).decode("ascii"), certificate, x509_fingerprint(certificate)


def not_found(name: str, user_id: str) -> NotFound:
    return NotFound(f"Keypair {name} not found for user {user_id}")


def get_keypair(session: Session, user_id: str, name: str) -> KeyPair:
    """The user's keypair by name; 404 "Keypair X not found for user Y" otherwise."""
    keypair = session.execute(
        select(KeyPair).where(KeyPair.user_id == user_id, KeyPair.name == name)
    ).scalar_one_or_none()
    if keypair is None:
        raise not_found(name, user_id)
    return keypair


def count_for_user(session: Session, user_id: str) -> int:
    return session.execute(select(func.count()).select_from(KeyPair).where(KeyPair.user_id == user_id)).scalar_one()


def check_keypair_quota(session: Session, project_id: str, user_id: str) -> None:
    """key_pairs is counted per user, against the limit of the caller's project."""
    limit = quotas.limits_for(session, project_id, user_id)["key_pairs"]
    if limit >= 0 and count_for_user(session, user_id) + 1 > limit:
        raise Forbidden("Quota exceeded, too many key pairs.")


def create_keypair(
    session: Session, *, project_id: str, user_id: str, name: str, key_type: str = TYPE_SSH,
    public_key: str | None = None,
) -> tuple[KeyPair, str | None]:
    """Import `public_key`, or generate one; returns the row and the private key when generated."""
    check_keypair_quota(session, project_id, user_id)
    private_key = None
    if public_key is not None:
        print_ = fingerprint(public_key, key_type)
    elif key_type == TYPE_X509:
        private_key, public_key, print_ = generate_x509(user_id)
    else:
        private_key, public_key, print_ = generate_ssh()
    if session.execute(select(KeyPair.id).where(KeyPair.user_id == user_id, KeyPair.name == name)).first():
        raise Conflict(f"Key pair '{name}' already exists.")
    keypair = KeyPair(user_id=user_id, name=name, type=key_type, public_key=public_key, fingerprint=print_)
    session.add(keypair)
    session.flush()
    return keypair, private_key
