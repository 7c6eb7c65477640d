"""Packaging (issue 15): `make install DESTDIR=tmp` gives the expected tree; every man page
renders with `MANWIDTH=80 man -l --warnings` and no warning; every option a tool's --help
lists is in its man page and the other way round (logdistd's option list is generated
from the option table, the tools' pages are written by hand: this is their drift check);
`systemd-analyze verify` passes on the installed unit; the shipped sample config passes
`logdistd --check-config`, and the installed daemon starts with it (data dir and port
overridden) and answers /health.

Runs `make install` on the build tree the binaries come from (LOGDIST_BIN/..) with the
default PREFIX (/usr/local), staged into this test's temp dir: nothing is written
outside it but the build tree (an up-to-date build is a no-op; the man pages and the
unit are (re)generated there)."""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, REPO, LogdistTestCase, dl, http_request  # noqa: E402

PREFIX = "/usr/local"
TOOLS = ("logdistctl", "logdist-gen", "logdist-analyzer", "logdist-faultproxy")
OPT_RE = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*(?:=scdoc)?|-h)(?![\w-])")

# what a staged install must hold (relative to DESTDIR), apart from share/doc/logdist/*
EXPECTED = {
    "usr/local/sbin/logdistd",
    "usr/local/bin/logdistctl",
    "usr/local/bin/logdist-gen",
    "usr/local/bin/logdist-analyzer",
    "usr/local/bin/logdist-faultproxy",
    "usr/local/share/man/man8/logdistd.8",
    "usr/local/share/man/man1/logdistctl.1",
    "usr/local/share/man/man1/logdist-gen.1",
    "usr/local/share/man/man1/logdist-analyzer.1",
    "usr/local/share/man/man1/logdist-faultproxy.1",
    "usr/local/etc/logdist/logdistd.json",
    "usr/local/lib/systemd/system/logdistd.service",
}


def run(argv, env=None, timeout=300, check=True):
    e = os.environ.copy()
    e.update(env or {})
    p = subprocess.run(argv, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(argv), p.returncode, p.stdout.decode(errors="replace")[-3000:],
            p.stderr.decode(errors="replace")[-3000:]))
    return p


def options_in(text):
    return set(OPT_RE.findall(text))


class PackagingTest(LogdistTestCase):
    dest = None  # one install for the whole class

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.dest = tempfile.mkdtemp(prefix="logdist-pkg-")
        build = os.path.dirname(os.path.abspath(BIN))
        run(["make", "--no-print-directory", "-C", REPO, "install", "BUILD=" + build,
             "PREFIX=" + PREFIX, "DESTDIR=" + cls.dest], timeout=dl(600))

    @classmethod
    def tearDownClass(cls):
        if cls.dest and not os.environ.get("LOGDIST_KEEP_TMP"):
            shutil.rmtree(cls.dest, ignore_errors=True)

    def staged(self, rel):
        return os.path.join(self.dest, rel)

    def man_text(self, page):
        """The page rendered as plain ASCII at 80 columns; fails on any groff warning."""
        p = run(["man", "-l", "--warnings", self.staged(page)],
                env={"MANWIDTH": "80", "LC_ALL": "C", "MANPAGER": "cat", "PAGER": "cat"})
        warn = p.stderr.decode(errors="replace").strip()
        self.assertEqual(warn, "", "%s: man --warnings said:\n%s" % (page, warn))
        # groff may break a line after a hyphen of a long option: join those back
        return re.sub(r"-\n\s+", "-", p.stdout.decode())

    def test_tree(self):
        files = set()
        for root, _, names in os.walk(self.dest):
            for n in names:
                files.add(os.path.relpath(os.path.join(root, n), self.dest))
        docs = {f for f in files if f.startswith("usr/local/share/doc/logdist/")}
        self.assertEqual(files - docs, EXPECTED)
        for doc in ("README.md", "CONFIG.md", "DEPLOY.md", "API.md"):
            self.assertIn("usr/local/share/doc/logdist/" + doc, docs)
        for b in ("usr/local/sbin/logdistd",) + tuple("usr/local/bin/" + t for t in TOOLS):
            self.assertTrue(os.access(self.staged(b), os.X_OK), b)
        # the staged binaries are the build's (same bytes), and they run
        self.assertEqual(open(self.staged("usr/local/sbin/logdistd"), "rb").read(),
                         open(os.path.join(BIN, "logdistd"), "rb").read())
        out = run([self.staged("usr/local/sbin/logdistd"), "--version"]).stdout.decode()
        self.assertRegex(out, r"^logdistd \d+\.\d+\.\d+\n$")

    def test_man_pages_render(self):
        for page in sorted(EXPECTED):
            if "/man/" not in page:
                continue
            text = self.man_text(page)
            name = os.path.basename(page).rsplit(".", 1)[0]
            self.assertIn("NAME", text, page)
            self.assertRegex(text, r"\n\s+%s - " % re.escape(name), page)
            self.assertIn("SYNOPSIS", text, page)

    def test_man_lists_every_option_of_help(self):
        pages = {"logdistd": ("usr/local/sbin/logdistd", "usr/local/share/man/man8/logdistd.8")}
        for t in TOOLS:
            pages[t] = ("usr/local/bin/" + t, "usr/local/share/man/man1/%s.1" % t)
        for tool, (binary, page) in sorted(pages.items()):
            p = run([self.staged(binary), "--help"], check=False)
            help_text = (p.stdout + p.stderr).decode()
            helped = options_in(help_text)
            self.assertGreater(len(helped), 2, "%s --help: %r" % (tool, help_text[:500]))
            documented = options_in(self.man_text(page))
            self.assertEqual(helped - documented, set(),
                             "%s: options of --help missing from %s" % (tool, page))
            self.assertEqual(documented - helped, set(),
                             "%s: options in %s that --help does not list" % (tool, page))

    def test_logdistd_page_is_the_option_table(self):
        """Every row of the table is in logdistd(8) with its default, as --config-doc=scdoc
        prints it (the page is generated from it, not copied)."""
        binary = self.staged("usr/local/sbin/logdistd")
        rows = run([binary, "--config-doc=scdoc"]).stdout.decode()
        names = re.findall(r"^\*--([a-z0-9-]+)\* ", rows, re.M)
        self.assertGreater(len(names), 40)
        text = self.man_text("usr/local/share/man/man8/logdistd.8")
        for n in names:
            self.assertRegex(text, r"\n\s+--%s [A-Z:]+\n" % re.escape(n), n)
        self.assertIn("Default: 16MiB.", text)  # --max-body-bytes, from the table

    def test_unit_verifies(self):
        unit = self.staged("usr/local/lib/systemd/system/logdistd.service")
        with open(unit) as f:
            text = f.read()
        self.assertIn("ExecStart=%s/sbin/logdistd --config %s/etc/logdist/logdistd.json\n"
                      % (PREFIX, PREFIX), text)
        for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes",
                     "StateDirectory=logdist", "ProtectSystem=strict", "NoNewPrivileges=yes",
                     "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service"):
            self.assertIn(line, text)
        self.assertNotIn("@", re.sub(r"SystemCallFilter=.*|@system-service", "", text)
                         .split("[Unit]", 1)[1], "an unsubstituted @VAR@ in the unit")
        # verify needs the binaries where ExecStart names them: point the paths into
        # the staged tree (the only change) and let man find the staged pages
        local = os.path.join(self.tmp, "logdistd.service")
        with open(local, "w") as f:
            f.write(text.replace(PREFIX + "/", self.staged(PREFIX.lstrip("/")) + "/"))
        p = run(["systemd-analyze", "verify", local],
                env={"MANPATH": self.staged("usr/local/share/man"), "SYSTEMD_LOG_LEVEL": "notice"},
                check=False)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        self.assertEqual(p.stderr.decode(errors="replace").strip(), "")
        # the score that docs/DEPLOY.md quotes
        p = run(["systemd-analyze", "security", "--offline=true", local], check=False)
        m = re.search(r"Overall exposure level for logdistd.service: (\d+\.\d+)",
                      p.stdout.decode(errors="replace"))
        self.assertTrue(m, p.stdout.decode(errors="replace")[-2000:])
        self.assertLessEqual(float(m.group(1)), 2.0, "exposure grew: %s" % m.group(1))
        with open(os.path.join(REPO, "docs", "DEPLOY.md")) as f:
            deploy = f.read()
        self.assertIn("exposure level %s" % m.group(1), deploy)

    def test_sample_config(self):
        binary = self.staged("usr/local/sbin/logdistd")
        conf = self.staged("usr/local/etc/logdist/logdistd.json")
        p = run([binary, "--check-config", conf])
        self.assertIn("configuration ok", p.stdout.decode() + p.stderr.decode())
        # the installed daemon runs the shipped config (flags override data dir and port)
        p = self.spawn("logdistd-installed", [binary, "--config", conf, "--listen", "127.0.0.1:0",
                                               "--data-dir", self.data_dir()])
        line = p.first_line(dl(10))
        port = int(line["listening"].rsplit(":", 1)[1])
        r = http_request(port, "GET", "/health")
        self.assertIn(r.status, (200, 503), r.body)  # no analyzer configured yet
        r = http_request(port, "GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn(b"logdist_", r.body)


if __name__ == "__main__":
    unittest.main()
