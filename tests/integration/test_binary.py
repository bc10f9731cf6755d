"""The keel command line: --version, --check-config, start-up failures."""

import subprocess

from conftest import KEEL_BIN, REPO, Broker


def run(*args, timeout=20):
    return subprocess.run([KEEL_BIN, *args], capture_output=True, text=True, timeout=timeout)


def test_version():
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("keel ")
    assert out.stdout.strip().split()[1][0].isdigit()


def test_no_arguments_prints_usage():
    out = run()
    assert out.returncode == 2
    assert "usage:" in out.stderr


def test_check_config_accepts_shipped_configs():
    for name in ("keel.yaml", "cluster-example.yaml"):
        out = run("--check-config", str(REPO / "config" / name))
        assert out.returncode == 0, out.stderr
        assert "configuration OK" in out.stdout
        assert "broker.id=" in out.stdout
    # Keys the file sets are marked with their line; defaults are not.
    out = run("--check-config", str(REPO / "config" / "keel.yaml"))
    lines = dict(l.split("=", 1) for l in out.stdout.splitlines() if "=" in l and not l.startswith("#"))
    assert "keel.yaml:" in lines["listeners"]
    assert "#" not in lines["num.io.threads"]


def test_check_config_names_key_line_and_suggestion(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("broker.id: 1\nlog.retension.hours: 5\nnum.partitions: zero\n")
    out = run("--check-config", str(cfg))
    assert out.returncode == 1
    assert "log.retension.hours" in out.stderr
    assert "bad.yaml:2" in out.stderr
    assert "log.retention.hours" in out.stderr  # did you mean
    assert "num.partitions" in out.stderr and "bad.yaml:3" in out.stderr


def test_start_with_bad_config_fails(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("broker.id: -7\nlisteners: PLAINTEXT://127.0.0.1:notaport\n")
    out = run("--config", str(cfg))
    assert out.returncode == 1
    assert "broker.id" in out.stderr
    assert "listeners" in out.stderr


def test_missing_config_file_fails(tmp_path):
    out = run("--config", str(tmp_path / "nope.yaml"))
    assert out.returncode == 1
    assert "nope.yaml" in out.stderr


def test_log_dir_of_another_broker_refuses_to_start(tmp_path):
    b = Broker(tmp_path / "b", broker_id=1).start()
    assert b.stop() == 0
    other = Broker(tmp_path / "b", broker_id=2)
    out = run("--config", str(other.config_path))
    assert out.returncode == 1
    assert "belongs to broker.id 1" in out.stderr


def test_port_in_use_fails_cleanly(make_broker):
    first = make_broker("first").start()
    second = make_broker("second")
    second.port = first.port
    second.config_path.write_text(
        first.config_path.read_text().replace(str(first.dir / "data"), str(second.dir / "data"))
        .replace(str(first.log_path), str(second.log_path)))
    out = run("--config", str(second.config_path))
    assert out.returncode == 1
    assert "cannot listen on" in out.stderr
    assert first.alive()


def test_sigterm_stops_with_a_log_line(make_broker):
    b = make_broker().start()
    assert b.stop() == 0
    log = b.log_text()
    assert "started: broker.id=0" in log
    assert "stopping on SIGTERM" in log
    assert log.rstrip().endswith("keel stopped")


def test_sighup_reopens_the_log_file_after_rotation(make_broker):
    import signal
    import time
    b = make_broker().start()
    rotated = b.log_path.with_suffix(".log.1")
    b.log_path.rename(rotated)
    b.proc.send_signal(signal.SIGHUP)
    for _ in range(100):
        if b.log_path.exists() and "log file reopened on SIGHUP" in b.log_text():
            break
        time.sleep(0.05)
    assert "log file reopened on SIGHUP" in b.log_text()
    assert "started: broker.id=0" in rotated.read_text()
    assert b.alive()
    assert b.stop() == 0
    assert "keel stopped" in b.log_text()
