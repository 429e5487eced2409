# auth.py: redis-py with username= and password= against an auth-enabled node (issue 13): the
# user's role allows app/ only, so other/ is refused NOPERM; a wrong password is refused.
import sys

import redis

port = int(sys.argv[1])
ok = redis.Redis(host="127.0.0.1", port=port, username="alice", password="alice-pw",
                 socket_timeout=20)
ok.set("app/py", "from-python")
assert ok.get("app/py") == b"from-python", ok.get("app/py")
assert ok.execute_command("ACL", "WHOAMI") == b"alice"
for op in (lambda: ok.get("other/py"), lambda: ok.set("other/py", "x")):
    try:
        op()
    except redis.exceptions.NoPermissionError as e:
        assert "NOPERM" in str(e) or "permission" in str(e).lower(), e
    else:
        raise AssertionError("other/ was not refused")
try:
    redis.Redis(host="127.0.0.1", port=port, username="alice", password="wrong",
                socket_timeout=20).ping()
except redis.exceptions.AuthenticationError:
    pass
except redis.exceptions.ResponseError as e:  # older redis-py: WRONGPASS as a plain error
    assert "WRONGPASS" in str(e), e
else:
    raise AssertionError("a wrong password was accepted")
try:
    redis.Redis(host="127.0.0.1", port=port, socket_timeout=20).get("app/py")
except redis.exceptions.AuthenticationError:
    pass
except redis.exceptions.ResponseError as e:
    assert "NOAUTH" in str(e), e
else:
    raise AssertionError("an anonymous read was served")
print("redis-py: ok")
