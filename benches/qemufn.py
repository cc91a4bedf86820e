# The QMP and HTTP side of benches/qemufn.sh (see there).
import base64, json, os, socket, sys, time, urllib.request
mode, T, IN, qpid, W = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
URL = "http://172.31.255.2:8080"
def alive():
    try:
        os.kill(qpid, 0)
        return True
    except OSError:
        return False
def post(path, body, timeout=60):
    req = urllib.request.Request(URL + path, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()
def until_up(deadline):
    while time.monotonic() < deadline:
        if not alive():
            sys.exit("qemu exited; console: %s" % open(W + "/q.console", errors="replace").read()[-500:])
        try:
            urllib.request.urlopen(URL + "/health", timeout=1).read()
            return
        except OSError:
            time.sleep(0.01)
    sys.exit("qemu: the function did not answer in time")
def qmp(cmds):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(500):
        try:
            s.connect(W + "/qmp.sock")
            break
        except OSError:
            time.sleep(0.01)
    f = s.makefile("rw")
    json.loads(f.readline())
    out = []
    for c in [{"execute": "qmp_capabilities"}] + cmds:
        f.write(json.dumps(c) + "\n")
        f.flush()
        while True:
            m = json.loads(f.readline())
            if "return" in m or "error" in m:
                out.append(m)
                break
    s.close()
    return out[1:]
if mode == "snapshot":
    until_up(time.monotonic() + 300)
    time.sleep(0.5)
    qmp([{"execute": "migrate", "arguments": {"uri": "exec:cat > %s/qemu.mig" % T}}])
    deadline = time.monotonic() + 120
    while qmp([{"execute": "query-migrate"}])[0]["return"].get("status") != "completed":
        if time.monotonic() > deadline:
            sys.exit("qemu: migration to a file did not complete")
        time.sleep(0.05)
else:
    until_up(time.monotonic() + 300)
    # The restore message kindling run sends: fresh entropy and the wall clock.
    msg = {"entropy": base64.b64encode(os.urandom(64)).decode(), "time_ns": time.time_ns()}
    st, _ = post("/restore", json.dumps(msg).encode())
    assert st == 200, st
    st, out = post("/invoke", open(IN, "rb").read())
    # When this instance answered, for the fan-out's last answer.
    open(W + "/q.at", "w").write("%d\n" % time.time_ns())
    open(W + "/q.out", "wb").write(out)
