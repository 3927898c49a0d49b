"""Users, API keys and the credit ledger. Every SQL statement about them lives here.

API keys look like the hosted service's: "ta_" + 32 hex characters (128 random bits).
Only a SHA-256 hash and a short display prefix are stored; a presented key is looked up by
its prefix and compared by hash in constant time.
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from tryon.store.db import parse_utc, transaction, utcnow

KEY_PATTERN = re.compile(r"^ta_[0-9a-f]{32}$")
PREFIX_LENGTH = len("ta_") + 8
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
# A key's last_used_at is refreshed at most this often, so that status polling does not
# turn every read into a write.
LAST_USED_RESOLUTION_SECONDS = 60


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


class InsufficientCredits(Exception):
    pass


@dataclass(frozen=True)
class ApiKey:
    id: int
    user_id: int
    prefix: str
    name: str


# --- users -----------------------------------------------------------------------------

def create_user(conn, email, password, *, is_admin=False, credits=0):
    """An account made by an admin (CLI or admin page)."""
    email = _checked_new_account(email, password)
    with transaction(conn):
        return _insert_user(conn, email, password, is_admin, credits, "initial credits")


def _insert_user(conn, email, password, is_admin, credits, credits_note):
    """Inside the caller's transaction: the users row and its first credits."""
    if conn.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
        raise AccountError(f"A user with the email {email} exists already.")
    user_id = conn.execute(
        "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?)",
        (email, generate_password_hash(password), int(is_admin), utcnow()),
    ).lastrowid
    if credits:
        _add_ledger_entry(conn, user_id, credits, "grant", note=credits_note)
    return user_id


def get_user(conn, user_id):
    return conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()


def find_user_by_email(conn, email):
    return conn.execute("SELECT * FROM users WHERE email = ?", ((email or "").strip(),)).fetchone()


def check_password(user, password):
    return user is not None and check_password_hash(user["password_hash"], password or "")


def require_user(conn, email):
    user = find_user_by_email(conn, email)
    if user is None:
        raise AccountError(f"No user with the email {email}.")
    return user


# --- API keys --------------------------------------------------------------------------

def hash_key(plaintext):
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_api_key(conn, user_id, name="default"):
    """Make a new key for the user; return (plaintext, ApiKey). The plaintext is not kept."""
    plaintext = "ta_" + secrets.token_hex(16)
    prefix = plaintext[:PREFIX_LENGTH]
    name = (name or "").strip() or "default"
    with transaction(conn):
        key_id = conn.execute(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user_id, name[:100], prefix, hash_key(plaintext), utcnow()),
        ).lastrowid
    return plaintext, ApiKey(id=key_id, user_id=user_id, prefix=prefix, name=name)


def authenticate_key(conn, plaintext):
    """Return the ApiKey for a valid, unrevoked key of an active user, else None."""
    row = valid_key_row(conn, plaintext)
    return None if row is None else use_key(conn, row)


def valid_key_row(conn, plaintext):
    """The api_keys row of a valid, unrevoked key of an active user, else None."""
    if not isinstance(plaintext, str) or not KEY_PATTERN.match(plaintext):
        return None
    presented = hash_key(plaintext)
    rows = conn.execute(
        "SELECT k.id, k.user_id, k.prefix, k.name, k.key_hash, k.last_used_at FROM api_keys k"
        " JOIN users u ON u.id = k.user_id"
        " WHERE k.prefix = ? AND k.revoked_at IS NULL AND u.is_active = 1",
        (plaintext[:PREFIX_LENGTH],),
    ).fetchall()
    for row in rows:
        if hmac.compare_digest(row["key_hash"], presented):
            return row
    return None


def use_key(conn, row):
    """The ApiKey of a row valid_key_row found, its last use noted."""
    _touch_key(conn, row)
    return ApiKey(id=row["id"], user_id=row["user_id"], prefix=row["prefix"], name=row["name"])


def _touch_key(conn, row):
    now = utcnow()
    if (row["last_used_at"]
            and _seconds_between(row["last_used_at"], now) < LAST_USED_RESOLUTION_SECONDS):
        return
    conn.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, row["id"]))


def _seconds_between(earlier_iso, later_iso):
    return (parse_utc(later_iso) - parse_utc(earlier_iso)).total_seconds()


def list_api_keys(conn, user_id):
    return conn.execute(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys"
        " WHERE user_id = ? ORDER BY id DESC", (user_id,)).fetchall()


def revoke_api_key(conn, key_or_prefix, user_id=None):
    """Revoke one key given in full or by its displayed prefix; return its prefix."""
    key_or_prefix = (key_or_prefix or "").strip().rstrip("…").rstrip(".")
    if KEY_PATTERN.match(key_or_prefix):
        where, arg = "key_hash = ?", hash_key(key_or_prefix)
    elif key_or_prefix.startswith("ta_") and len(key_or_prefix) >= PREFIX_LENGTH:
        where, arg = "prefix = ?", key_or_prefix[:PREFIX_LENGTH]
    else:
        raise AccountError("Give the whole key or its prefix (ta_ followed by 8 characters).")
    owner_clause, owner_args = ("AND user_id = ?", (user_id,)) if user_id is not None else ("", ())
    with transaction(conn):
        rows = conn.execute(
            f"SELECT id, prefix, revoked_at FROM api_keys WHERE {where} {owner_clause}",
            (arg, *owner_args)).fetchall()
        if not rows:
            raise AccountError(f"No API key matches {key_or_prefix}.")
        active = [row for row in rows if row["revoked_at"] is None]
        if len(active) > 1:
            raise AccountError(f"{len(active)} keys share the prefix {key_or_prefix}; "
                               "give the whole key.")
        if not active:
            raise AccountError(f"The key {rows[0]['prefix']} is revoked already.")
        conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (utcnow(), active[0]["id"]))
    return active[0]["prefix"]


# --- webhook secrets -------------------------------------------------------------------

def webhook_secret(conn, user_id):
    """The user's webhook signing secret, made on first use. Kept in clear: we sign with it."""
    with transaction(conn):
        # Only the first caller's secret is kept, even when two make one at the same time.
        conn.execute("UPDATE users SET webhook_secret = ? WHERE id = ? AND webhook_secret IS NULL",
                     ("whsec_" + secrets.token_hex(24), user_id))
        return conn.execute("SELECT webhook_secret FROM users WHERE id = ?",
                            (user_id,)).fetchone()["webhook_secret"]


def rotate_webhook_secret(conn, user_id):
    secret = "whsec_" + secrets.token_hex(24)
    with transaction(conn):
        conn.execute("UPDATE users SET webhook_secret = ? WHERE id = ?", (secret, user_id))
    return secret


# --- credits ---------------------------------------------------------------------------

def grant_credits(conn, user_id, amount, note="grant"):
    if amount <= 0:
        raise AccountError("Grant a positive number of credits.")
    with transaction(conn):
        _add_ledger_entry(conn, user_id, amount, "grant", note=note)


def balance(conn, user_id):
    row = conn.execute("SELECT credit_balance FROM users WHERE id = ?", (user_id,)).fetchone()
    return row["credit_balance"] if row else 0


def ledger_sum(conn, user_id):
    return conn.execute("SELECT COALESCE(SUM(delta), 0) FROM credit_ledger WHERE user_id = ?",
                        (user_id,)).fetchone()[0]


def ledger(conn, user_id, limit=100):
    return conn.execute("SELECT * FROM credit_ledger WHERE user_id = ? ORDER BY id DESC LIMIT ?",
                        (user_id, limit)).fetchall()


def debit_for_job(conn, user_id, job_id, cost):
    """Inside the caller's transaction: take `cost` credits for a job, or raise."""
    if cost <= 0:
        return
    updated = conn.execute(
        "UPDATE users SET credit_balance = credit_balance - ? WHERE id = ? AND credit_balance >= ?",
        (cost, user_id, cost)).rowcount
    if not updated:
        raise InsufficientCredits()
    conn.execute(
        "INSERT INTO credit_ledger (user_id, delta, kind, job_id, note, created_at)"
        " VALUES (?, ?, 'debit', ?, 'try-on job', ?)", (user_id, -cost, job_id, utcnow()))


def refund_job(conn, user_id, job_id, cost):
    """Inside the caller's transaction: give back a failed job's credits, once."""
    if cost <= 0:
        return
    inserted = conn.execute(
        "INSERT OR IGNORE INTO credit_ledger (user_id, delta, kind, job_id, note, created_at)"
        " VALUES (?, ?, 'refund', ?, 'failed job refunded', ?)",
        (user_id, cost, job_id, utcnow())).rowcount
    if inserted:
        conn.execute("UPDATE users SET credit_balance = credit_balance + ? WHERE id = ?",
                     (cost, user_id))


def _add_ledger_entry(conn, user_id, delta, kind, note=None):
    conn.execute(
        "INSERT INTO credit_ledger (user_id, delta, kind, note, created_at) VALUES (?, ?, ?, ?, ?)",
        (user_id, delta, kind, note, utcnow()))
    conn.execute("UPDATE users SET credit_balance = credit_balance + ? WHERE id = ?",
                 (delta, user_id))


# --- the dashboard: sign-up, passwords, admin ------------------------------------------

class SignupClosed(AccountError):
    """Self sign-up is off and this would not be the first account."""


def sign_up(conn, email, password, *, open_signup, credits=0):
    """Create an account from the sign-up page; return (user_id, is_admin).

    The very first account becomes the admin, whatever `open_signup` says; after that,
    sign-up needs `open_signup`. Counting users and inserting happen in one transaction so
    that two people signing up at once cannot both become the first admin.
    """
    email = _checked_new_account(email, password)
    with transaction(conn):
        is_first = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
        if not is_first and not open_signup:
            raise SignupClosed("Sign-up is closed on this server: ask an admin for an account.")
        user_id = _insert_user(conn, email, password, is_first, credits, "sign-up credits")
    return user_id, is_first


def _checked_new_account(email, password):
    email = (email or "").strip()
    if not EMAIL_PATTERN.match(email):
        raise AccountError(f"{email!r} is not an email address.")
    check_new_password(password)
    return email


def check_new_password(password):
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")


def set_password(conn, user_id, new_password):
    check_new_password(new_password)
    with transaction(conn):
        conn.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                     (generate_password_hash(new_password), user_id))


def list_users(conn):
    """Every user with their number of active keys and of jobs, oldest account first."""
    return conn.execute(
        "SELECT u.id, u.email, u.is_admin, u.is_active, u.credit_balance, u.created_at,"
        " (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL)"
        "   AS active_keys,"
        " (SELECT COUNT(*) FROM jobs j WHERE j.user_id = u.id) AS jobs"
        " FROM users u ORDER BY u.id").fetchall()


def set_user_active(conn, user_id, active):
    """Enable or disable a user; a disabled user's keys and sessions stop working at once."""
    with transaction(conn):
        updated = conn.execute("UPDATE users SET is_active = ? WHERE id = ?",
                               (int(active), user_id)).rowcount
    if not updated:
        raise AccountError(f"No user with the id {user_id}.")


def revoke_api_key_by_id(conn, key_id, *, user_id):
    """Revoke one of the user's keys by its id; return its prefix. The dashboard uses ids
    so that two keys with the same prefix can never be confused."""
    with transaction(conn):
        row = conn.execute("SELECT prefix, revoked_at FROM api_keys WHERE id = ? AND user_id = ?",
                           (key_id, user_id)).fetchone()
        if row is None:
            raise AccountError("No such API key.")
        if row["revoked_at"] is not None:
            raise AccountError(f"The key {row['prefix']} is revoked already.")
        conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (utcnow(), key_id))
    return row["prefix"]


def get_api_key(conn, key_id, *, user_id):
    """One of the user's keys (without its hash), or None."""
    return conn.execute(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys"
        " WHERE id = ? AND user_id = ?", (key_id, user_id)).fetchone()


def has_users(conn):
    return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None
