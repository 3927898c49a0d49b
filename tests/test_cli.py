"""The administration commands: their names and outputs are a scripted contract."""
from tryon.store import accounts, db


def test_init_db_is_idempotent(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    assert "up to date" in result.output


def test_user_key_and_credit_commands(app, runner):
    result = runner.invoke(args=["users", "create", "ann@example.com", "--password-stdin",
                                 "--credits", "5", "--admin"], input="s3cret-pass\n")
    assert result.exit_code == 0, result.output
    key = runner.invoke(args=["keys", "create", "ann@example.com", "--name", "ci"])
    assert key.exit_code == 0
    plaintext = key.stdout.strip()
    assert accounts.KEY_PATTERN.match(plaintext)
    assert key.stdout == plaintext + "\n"      # only the key on stdout

    assert runner.invoke(args=["credits", "grant", "ann@example.com", "3"]).exit_code == 0
    balance = runner.invoke(args=["credits", "balance", "ann@example.com"])
    assert balance.stdout == "8\n"

    conn = db.connect(app.config["DATABASE"])
    user = accounts.find_user_by_email(conn, "ann@example.com")
    assert user["is_admin"] == 1
    assert accounts.check_password(user, "s3cret-pass")
    assert accounts.authenticate_key(conn, plaintext).user_id == user["id"]
    conn.close()


def test_revoke_by_prefix_and_by_full_key(app, runner):
    runner.invoke(args=["users", "create", "bob@example.com", "--password-stdin"],
                  input="s3cret-pass\n")
    first = runner.invoke(args=["keys", "create", "bob@example.com"]).stdout.strip()
    second = runner.invoke(args=["keys", "create", "bob@example.com"]).stdout.strip()
    assert runner.invoke(args=["keys", "revoke", first[:11]]).exit_code == 0
    assert runner.invoke(args=["keys", "revoke", second]).exit_code == 0
    conn = db.connect(app.config["DATABASE"])
    assert accounts.authenticate_key(conn, first) is None
    assert accounts.authenticate_key(conn, second) is None
    conn.close()
    again = runner.invoke(args=["keys", "revoke", second])
    assert again.exit_code == 1 and "revoked already" in again.output


def test_errors_exit_nonzero_with_a_message(runner):
    result = runner.invoke(args=["credits", "balance", "nobody@example.com"])
    assert result.exit_code == 1 and "No user" in result.output
    result = runner.invoke(args=["users", "create", "not-an-email", "--password-stdin"],
                           input="s3cret-pass\n")
    assert result.exit_code == 1
    result = runner.invoke(args=["users", "create", "c@example.com", "--password-stdin"],
                           input="short\n")
    assert result.exit_code == 1 and "at least" in result.output
    result = runner.invoke(args=["keys", "revoke", "nonsense"])
    assert result.exit_code == 1


def test_users_create_without_a_terminal_says_to_use_password_stdin(app, runner):
    # Without a terminal click's prompt printed "Aborted!" and a script failed one line later.
    result = runner.invoke(args=["users", "create", "dan@example.com"], input="")
    assert result.exit_code == 1 and "--password-stdin" in result.output
    conn = db.connect(app.config["DATABASE"])
    assert accounts.find_user_by_email(conn, "dan@example.com") is None
    conn.close()
