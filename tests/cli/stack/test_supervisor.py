"""supervisord as rendered for the stack: it stops services before the stores they write to, and
signals a service alone so that the service shuts its own children (its pyspark JVM) down."""

import sys

import psutil
import pytest

from lakepulse_cli.stack.supervisor import Program, Supervisor
from lakepulse_common.settings import LakePulseSettings
from tests.support import free_ports, wait_for

# Shaped like a Spark service: the child (its JVM) exits when the parent's pipe to it closes. Had the
# stop signal reached the child too (the whole process group), it would die under its parent. At its
# SIGTERM the parent also records whether the store it depends on is still up.
_CHILD = """
import pathlib, signal, sys
marks = pathlib.Path(sys.argv[1])
def terminated(*_):
    marks.open("a").write("child got SIGTERM\\n")
    sys.exit(1)
signal.signal(signal.SIGTERM, terminated)
sys.stdin.read()
marks.open("a").write("child saw its stdin close\\n")
"""
_SERVICE = f"""
import pathlib, signal, socket, subprocess, sys
marks, store_port = pathlib.Path(sys.argv[1]), int(sys.argv[2])
child = subprocess.Popen([sys.executable, "-c", {_CHILD!r}, str(marks)], stdin=subprocess.PIPE)
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGTERM}})
signal.sigwait({{signal.SIGTERM}})
try:
    socket.create_connection(("127.0.0.1", store_port), timeout=5).close()
    marks.open("a").write("store still up at SIGTERM\\n")
except OSError:
    marks.open("a").write("store already gone at SIGTERM\\n")
child.stdin.close()
child.wait()
marks.open("a").write("service stopped its child\\n")
"""


@pytest.fixture
def supervisor(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEPULSE_STATE_DIR", str(tmp_path / "state"))
    supervisor = Supervisor(LakePulseSettings())
    yield supervisor
    pid = supervisor.pid()
    if pid is not None:
        supervisor.shutdown()
        wait_for(lambda: not psutil.pid_exists(pid), 60, "supervisord to exit")


def test_shutdown_stops_the_service_alone_and_before_its_store(supervisor, tmp_path):
    (store_port,) = free_ports(1)
    script, marks = tmp_path / "service.py", tmp_path / "marks.txt"
    script.write_text(_SERVICE)
    store = [sys.executable, "-m", "http.server", str(store_port), "--bind", "127.0.0.1"]
    # Listed first and named last, so neither config order nor name order alone would stop it last.
    service = [sys.executable, str(script), str(marks), str(store_port)]
    programs = [
        Program(name="a-service", command=service, priority=300),
        Program(name="z-store", command=store, priority=100),
    ]
    supervisor.write_config(programs)
    supervisor.start()

    def all_running() -> bool:
        states = {name: info["statename"] for name, info in supervisor.processes().items()}
        return states == {"a-service": "RUNNING", "z-store": "RUNNING"}

    wait_for(all_running, 60, "both programs to run")
    pid = supervisor.shutdown()
    assert pid is not None
    wait_for(lambda: not psutil.pid_exists(pid), 60, "supervisord to stop both programs and exit")

    assert marks.read_text().splitlines() == [
        "store still up at SIGTERM",
        "child saw its stdin close",
        "service stopped its child",
    ]
