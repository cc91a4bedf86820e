#!/usr/bin/env python3
"""Snapshot figures of a Linux guest, kindling against QEMU microvm (issue 12), on a usable
/dev/kvm (benches/snapshot.sh runs it inside the KVM lab here). The guest is build/guest/vmlinux
with benches/snapguest.c as /init, 256 MiB, 1 vCPU, the same command line for both VMMs.

  kindling.restore_to_ready_ms    `kindling --restore --resume` started -> the guest answers
                                   "ping" on its console (median of N restores)
  qemu.restore_to_ready_ms        the same for QEMU started with -incoming from a migration
                                   file of the same guest at the same point
  kindling_vs_qemu.restore_to_ready_ratio   (target <= 0.2)
  kindling.post_restore_touch_ratio   the guest writing one byte per page of 128 MiB right
                                   after a restore, over the same in a VM that was never
                                   snapshotted (Firecracker's post-restore fault test; <= 1.3)
  qemu.post_restore_touch_ratio   the same for QEMU, for comparison

Every wait has a deadline; a VMM that misses one fails the bench with its stderr.
usage: snaplab.py [N]
"""
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ("console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd quiet "
        "tsc=reliable no_timer_check")
MIB = 256


class Fail(Exception):
    pass


class VM:
    """A VMM process with its console on pipes; stderr in a file."""

    def __init__(self, name, argv, tmp):
        self.name = name
        self.err = os.path.join(tmp, name + ".err")
        self.t0 = time.monotonic()
        with open(self.err, "wb") as e:
            self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=e,
                                      start_new_session=True)
        self.buf = b""
        self.read_at = self.t0

    def send(self, text):
        try:
            self.p.stdin.write(text.encode())
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def line(self, prefix, timeout, resend=None):
        """The first console line starting with prefix, and when it was read (monotonic s).
        With resend, that text goes to the console every 50 ms until then."""
        deadline = time.monotonic() + timeout
        next_send = 0.0
        while True:
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                text = raw.strip(b"\r").decode(errors="replace")
                if text.startswith(prefix):
                    return text, self.read_at
            now = time.monotonic()
            if now >= deadline:
                raise Fail("%s: no '%s' within %d s; stderr: %s" % (self.name, prefix, timeout, self.tail()))
            if resend and now >= next_send:
                self.send(resend)
                next_send = now + 0.05
            wait = min(deadline, next_send if resend else deadline) - now
            r, _, _ = select.select([self.p.stdout], [], [], max(wait, 0.001))
            if r:
                data = os.read(self.p.stdout.fileno(), 65536)
                self.read_at = time.monotonic()
                if not data:
                    raise Fail("%s exited (%s) before '%s'; stderr: %s" % (self.name, self.p.wait(), prefix,
                                                                         self.tail()))
                self.buf += data

    def tail(self):
        with open(self.err, "rb") as f:
            return f.read()[-600:].decode(errors="replace")

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise Fail("%s: still there 20 s after SIGKILL" % self.name)


def touch(vm):
    vm.send("touch\n")
    text, _ = vm.line("TOUCH-NS", 120)
    return int(text.split()[1]) / 1e6


def curl(sock, method, path, body):
    r = subprocess.run(["curl", "-s", "-m", "60", "-o", "/dev/stderr", "-w", "%{http_code}", "--unix-socket", sock,
                        "-X", method, "http://localhost" + path, "-H", "Content-Type: application/json", "-d",
                        json.dumps(body)], capture_output=True, text=True, timeout=90)
    if r.stdout != "204":
        raise Fail("%s %s: %s %s" % (method, path, r.stdout, r.stderr))


def qmp(path, commands):
    """Runs QMP commands on QEMU's socket; returns the last answer."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(path)
    f = s.makefile("rw")
    f.readline()  # greeting
    answer = None
    for c in [{"execute": "qmp_capabilities"}] + commands:
        f.write(json.dumps(c) + "\n")
        f.flush()
        while True:
            answer = json.loads(f.readline())
            if "return" in answer or "error" in answer:
                break
        if "error" in answer:
            raise Fail("QMP %s: %s" % (c["execute"], answer["error"]))
    s.close()
    return answer


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    kernel = os.path.join(ROOT, "build/guest/vmlinux")
    initrd = os.path.join(ROOT, "build/guest/snapguest-initramfs.cpio.gz")
    kindling = os.path.join(ROOT, "build/kindling")
    qemu = shutil.which("qemu-system-x86_64")
    for f in (kernel, initrd, kindling):
        if not os.path.exists(f):
            raise Fail("%s is missing (make bench builds it)" % f)
    if not qemu:
        raise Fail("qemu-system-x86_64 is not installed")
    tmp = tempfile.mkdtemp()
    vms = []

    def start(name, argv):
        vm = VM(name, argv, tmp)
        vms.append(vm)
        return vm

    try:
        # Both VMMs read the images from tmpfs.
        for f in (kernel, initrd):
            shutil.copy(f, tmp)
        kernel, initrd = os.path.join(tmp, "vmlinux"), os.path.join(tmp, os.path.basename(initrd))
        qargs = [qemu, "-M", "microvm,x-option-roms=off,rtc=off,pit=on,pic=on,isa-serial=on", "-enable-kvm", "-cpu",
                 "host", "-m", str(MIB), "-smp", "1", "-nodefaults", "-no-user-config", "-nographic", "-serial",
                 "stdio", "-kernel", kernel, "-initrd", initrd, "-append", ARGS, "-no-reboot"]
        fig = {}
        for vmm in ("kindling", "qemu"):
            base, ready, after = [], [], []
            state, mem = os.path.join(tmp, vmm + ".state"), os.path.join(tmp, vmm + ".mem")
            # A VM never snapshotted: the touch as booted.
            for i in range(n):
                if vmm == "kindling":
                    vm = start("kindling-boot%d" % i, [kindling, "--kernel", kernel, "--initrd", initrd, "--cmdline",
                                                     ARGS, "--mem-mib", str(MIB), "--vcpus", "1"])
                else:
                    vm = start("qemu-boot%d" % i, qargs)
                vm.line("SNAP-READY", 120)
                base.append(touch(vm))
                vm.stop()
            # The snapshot: the guest waiting on its console, as after SNAP-READY.
            if vmm == "kindling":
                sock, cfg = os.path.join(tmp, "api.sock"), os.path.join(tmp, "vm.json")
                with open(cfg, "w") as f:
                    json.dump({"boot-source": {"kernel_image_path": kernel, "initrd_path": initrd, "boot_args": ARGS},
                               "machine-config": {"vcpu_count": 1, "mem_size_mib": MIB}}, f)
                vm = start("kindling-snap", [kindling, "--api-sock", sock, "--config-file", cfg])
                vm.line("SNAP-READY", 120)
                time.sleep(0.5)
                curl(sock, "PATCH", "/vm", {"state": "Paused"})
                curl(sock, "PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": mem})
            else:
                mon = os.path.join(tmp, "qmp.sock")
                vm = start("qemu-snap", qargs + ["-qmp", "unix:%s,server=on,wait=off" % mon])
                vm.line("SNAP-READY", 120)
                time.sleep(0.5)
                qmp(mon, [{"execute": "migrate", "arguments": {"uri": "exec:cat > %s" % mem}}])
                deadline = time.monotonic() + 120
                while True:
                    st = qmp(mon, [{"execute": "query-migrate"}])["return"].get("status")
                    if st == "completed":
                        break
                    if st == "failed" or time.monotonic() > deadline:
                        raise Fail("QEMU migration to a file: %s; stderr: %s" % (st, vm.tail()))
                    time.sleep(0.05)
            vm.stop()
            # Restores: started -> PONG, then the touch.
            for i in range(n):
                if vmm == "kindling":
                    vm = start("kindling-restore%d" % i, [kindling, "--restore", state, "--mem", mem, "--resume",
                                                        "--no-api"])
                else:
                    vm = start("qemu-restore%d" % i, qargs + ["-incoming", "exec:cat %s" % mem])
                _, t = vm.line("PONG", 120, resend="ping\n")
                ready.append((t - vm.t0) * 1e3)
                after.append(touch(vm))
                vm.stop()
                print("  %s restore %d: ready %.1f ms, touch %.1f ms (booted: %.1f ms)" %
                      (vmm, i, ready[-1], after[-1], base[min(i, len(base) - 1)]), file=sys.stderr)
            fig[vmm] = (statistics.median(ready), statistics.median(after) / statistics.median(base),
                        statistics.median(after), statistics.median(base))
        for vmm in ("kindling", "qemu"):
            print("%s.restore_to_ready_ms %.1f ms" % (vmm, fig[vmm][0]))
        print("kindling_vs_qemu.restore_to_ready_ratio %.3f ratio" % (fig["kindling"][0] / fig["qemu"][0]))
        for vmm in ("kindling", "qemu"):
            print("%s.post_restore_touch_ms %.1f ms" % (vmm, fig[vmm][2]))
            print("%s.booted_touch_ms %.1f ms" % (vmm, fig[vmm][3]))
            print("%s.post_restore_touch_ratio %.3f ratio" % (vmm, fig[vmm][1]))
    finally:
        for vm in vms:
            try:
                vm.stop()
            except Fail:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def on_signal(signum, _frame):
    raise Fail("stopped by signal %d (a deadline)" % signum)


if __name__ == "__main__":
    # The VMMs run in sessions of their own: a deadline's signal must reach the cleanup.
    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        main()
    except Fail as e:
        print("snaplab: %s" % e, file=sys.stderr)
        sys.exit(1)
