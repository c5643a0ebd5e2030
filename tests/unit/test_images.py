"""kubectl exec into the course's images: what a real cluster refuses, the lab refuses."""

import pytest

from kanslab.emulator.images import exec_refusal, image_name


@pytest.mark.parametrize("image", ["traefik/whoami", "traefik/whoami:v1.10.1", "docker.io/traefik/whoami:latest",
                                   "docker.io/traefik/whoami@sha256:" + "0" * 64])
def test_whoami_has_no_shell_and_no_tools(image):
    assert image_name(image) == "traefik/whoami"
    msg = exec_refusal(image, "ping")
    assert 'exec: "ping": executable file not found in $PATH' in msg and "exit code 126" in msg
    assert exec_refusal(image, "sh") and exec_refusal(image, "bash")
    assert exec_refusal(image, "/whoami") is None


@pytest.mark.parametrize("image", ["nicolaka/netshoot", "busybox", "docker.io/library/busybox:1.36",
                                   "localhost:5000/tools:1", "registry.k8s.io/e2e-test-images/agnhost:2.47"])
def test_other_images_are_taken_to_have_the_tools(image):
    assert exec_refusal(image, "ping") is None


def test_image_names():
    assert image_name("docker.io/library/busybox:1.36") == "busybox"
    assert image_name("localhost:5000/tools:1") == "tools"
    assert image_name("registry.k8s.io/e2e-test-images/agnhost:2.47") == "e2e-test-images/agnhost"


def test_a_pod_running_the_machines_tools_lacks_what_the_machine_lacks():
    """netshoot pods run the machine's zsh, ip, tcpdump: a program the machine has not is refused as
    containerd refuses it (exit 126)."""
    from kanslab.emulator.images import on_machine

    assert exec_refusal("nicolaka/netshoot", "sh", on_machine) is None
    assert exec_refusal("nicolaka/netshoot", "/bin/sh", on_machine) is None
    msg = exec_refusal("nicolaka/netshoot", "no-such-program-here", on_machine)
    assert 'exec: "no-such-program-here": executable file not found in $PATH' in msg
    assert exec_refusal("traefik/whoami", "sh", on_machine)  # whoami's own rule still holds
