"""Session records for the benchmarks, as a git fast-import stream on stdout.

    python3 bench/sessions.py COUNT BASE_COMMIT [SQL_FILE]

Every 100th session is active, the others completed. With SQL_FILE, the same rows are also
written there as SQLite statements (table `sessions`, indexed on status).
"""

import random
import sys
import time

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
OWNER = "01JZZZZZZZZZZZZZZZZZZZZZZZ"


def ulid(ms):
    value = (ms << 80) | random.getrandbits(80)
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def utc(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def main():
    n, base = int(sys.argv[1]), sys.argv[2]
    sql = open(sys.argv[3], "w") if len(sys.argv) > 3 else None
    if sql:
        sql.write("CREATE TABLE sessions (id TEXT PRIMARY KEY, branch TEXT, base TEXT, status TEXT, "
                  "agent TEXT, prompt TEXT, owner TEXT, started TEXT, updated TEXT, ended TEXT, "
                  "commits INTEGER);\nBEGIN;\n")
    out = sys.stdout
    start = int(time.time()) - n * 60
    for i in range(n):
        ts = start + i * 60
        sid = ulid(ts * 1000)
        live = i % 100 == 0
        status = "active" if live else "completed"
        end = None if live else utc(ts + 1800)
        ended = f'ended = "{end}"\n' if end else ""
        toml = (f'schema = 1\nid = "{sid}"\nbranch = "feature/bench-{i}"\nbase = "{base}"\n'
                f'base_ref = "main"\nstatus = "{status}"\nagent = "claude"\nrole = ""\nprompt = ""\n'
                f'actor = "bench <bench@example.com>"\nowner = "{OWNER}"\nstarted = "{utc(ts)}"\n'
                f'updated = "{utc(ts)}"\n{ended}epoch = 0\ncommits = 3\n')
        data = toml.encode()
        out.write(f"commit refs/pm/sessions/{sid}\ncommitter bench <bench@example.com> {ts} +0000\n")
        out.write(f"data 7\nlaunch\nM 100644 inline session.toml\ndata {len(data)}\n{toml}\n")
        if sql:
            sql.write(f"INSERT INTO sessions VALUES ('{sid}','feature/bench-{i}','{base}','{status}',"
                      f"'claude','','{OWNER}','{utc(ts)}','{utc(ts)}',"
                      f"{repr(end) if end else 'NULL'},3);\n")
    if sql:
        sql.write("CREATE INDEX by_status ON sessions(status);\nCOMMIT;\n")


main()
