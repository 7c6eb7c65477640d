"""Self-test of the LD_PRELOAD fault shim (ldfault.c): each rule kind does what its
header comment says, so the fault-injection tests cannot pass because a fault
silently never fired. Runs itself again as a child under LD_PRELOAD (only the
child writes through the shim) and checks what the child saw.

Run: LOGDIST_FAULT_LIB=<build>/tests/libldfault.so python3 tests/fault/test_shim.py
"""
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

LIB = os.environ.get("LOGDIST_FAULT_LIB", "")


def child(directory):
    """Under the shim: run the steps, print one JSON list of what each returned."""
    ctl = os.path.join(directory, "ctl")
    out = []

    def rules(*lines):
        with open(ctl + ".tmp", "w") as f:
            f.write("".join(ln + "\n" for ln in lines))
        os.rename(ctl + ".tmp", ctl)

    def attempt(fn, *a):
        try:
            return fn(*a)
        except OSError as e:
            return errno.errorcode.get(e.errno, e.errno)

    wal = os.open(os.path.join(directory, "x-wal-1.log"), os.O_WRONLY | os.O_CREAT, 0o644)
    other = os.open(os.path.join(directory, "other.log"), os.O_WRONLY | os.O_CREAT, 0o644)
    r, w = os.pipe()
    out.append(attempt(os.write, wal, b"a" * 10))                      # 0 no rules: 10
    rules("write path=-wal- errno=ENOSPC after_bytes=15 count=1")
    out.append([attempt(os.write, wal, b"a" * 10) for _ in range(4)])  # 1 10, 5, ENOSPC, 10
    out.append(attempt(os.write, other, b"a" * 10))                    # 2 other path: 10
    rules("write path=-wal- short=3", "fsync path=-wal- errno=EIO count=1")
    out.append(attempt(os.write, wal, b"a" * 10))                      # 3 3
    out.append(attempt(os.writev, wal, [b"abc", b"defg"]))             # 4 3
    out.append([attempt(os.fsync, wal), attempt(os.fdatasync, wal)])   # 5 EIO, None
    rules("write path=-wal- min_size=5 errno=EIO skip=1")
    out.append([attempt(os.pwrite, wal, b"abcdef", 0), attempt(os.pwrite, wal, b"ab", 0),
                attempt(os.pwrite, wal, b"abcdef", 0)])                # 6 6, 2, EIO
    rules("write path=-wal- errno=EIO", "# comment", "bogus rule", "write errno=EIO")
    out.append([attempt(os.write, w, b"x"), attempt(os.write, other, b"x"),
                attempt(os.write, wal, b"x")])                         # 7 1, 1, EIO
    rules()
    out.append(attempt(os.write, wal, b"abc"))                         # 8 cleared: 3
    os.close(wal)
    wal2 = os.open(os.path.join(directory, "y-wal-2.log"), os.O_WRONLY | os.O_CREAT, 0o644)
    other2 = os.open(os.path.join(directory, "other2.log"), os.O_WRONLY | os.O_CREAT, 0o644)
    rules("write path=-wal- errno=EFBIG delay_ms=20 count=1")
    out.append([attempt(os.write, other2, b"x"), attempt(os.write, wal2, b"x"),
                attempt(os.write, wal2, b"x")])                        # 9 1, EFBIG, 1
    rules("write path=-wal- delay_ms=10 count=1")
    out.append(attempt(os.write, wal2, b"abc"))                        # 10 slow, then 3
    sys.stdout.write(json.dumps(out) + "\n")


class ShimTest(unittest.TestCase):

    def test_rules(self):
        self.assertTrue(LIB and os.path.exists(LIB), "set LOGDIST_FAULT_LIB (got %r)" % LIB)
        d = tempfile.mkdtemp(prefix="ldfault-")
        try:
            env = dict(os.environ, LD_PRELOAD=os.path.abspath(LIB),
                       LDFAULT_CONTROL=os.path.join(d, "ctl"), LDFAULT_LOG=os.path.join(d, "log"))
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "child", d], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            got = json.loads(p.stdout.decode().strip().splitlines()[-1])
            want = [10, [10, 5, "ENOSPC", 10], 10, 3, 3, ["EIO", None], [6, 2, "EIO"],
                    [1, 1, "EIO"], 3, [1, "EFBIG", 1], 3]
            self.assertEqual(got, want)
            self.assertEqual(p.stderr.decode().count("bad rule, ignored"), 2, p.stderr)
            with open(os.path.join(d, "log")) as f:
                log = f.read().splitlines()
            faults = [ln for ln in log if ln.startswith("fault ")]
            self.assertEqual(len(faults), 5, log)  # ENOSPC, EIO fsync, EIO, EIO, EFBIG
            self.assertIn("fault write errno=%d path=%s" % (errno.ENOSPC, d), faults[0])
            self.assertEqual(sum(ln.startswith("short write") for ln in log), 2, log)
            self.assertEqual(sum(ln.startswith("delay write") for ln in log), 1, log)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        child(sys.argv[2])
    else:
        unittest.main(verbosity=2)
