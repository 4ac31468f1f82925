"""What the Python tests share: running a command (optionally inside a
network namespace) and polling for a condition. Each test folder puts this
one on sys.path."""
import subprocess
import time


def sh(*cmd, check=True, ns=None, timeout=60, input_text=None, env=None):
    """Runs cmd (inside namespace `ns` if given) and returns the completed
    process; with check, a non-zero exit fails the test with its output."""
    full = (["ip", "netns", "exec", ns] if ns else []) + [str(c) for c in cmd]
    r = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input_text,
                       env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(full)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r


def wait_for(what, predicate, timeout=60, interval=0.1):
    """Polls until predicate() is truthy and returns its value. The timeout
    only bounds a hang: no test asserts how fast anything is."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
