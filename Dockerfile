# The live course in a container, on any OS with Docker (Docker Desktop on macOS and Windows, Linux,
# Codespaces): JupyterLab on the embedded lab, which the entrypoint brings up inside the container.
#
#   docker build -t kanslab .
#   docker run --rm -it --privileged -p 8888:8888 kanslab      # then open the printed 127.0.0.1:8888 URL
#
# The lab builds Linux network namespaces, veths and bridges, runs BIRD/FRR and writes net.*
# sysctls inside them: the container needs CAP_NET_ADMIN/CAP_SYS_ADMIN, a writable /proc/sys and
# /dev/net/tun (--privileged gives all of them). Nothing of the lab leaves the container.
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive
# python3 for scripts/install.sh itself; the rest (FRR, BIRD, tcpdump, ...) is install.sh's list
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates make procps >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/kanslab
COPY . .
# PIP_* build arguments let a machine without PyPI access hand in wheels (scripts/container-smoke.sh)
ARG PIP_NO_INDEX=
ARG PIP_FIND_LINKS=
RUN ./scripts/install.sh \
 && rm -rf /var/lib/apt/lists/* build/container-wheels /root/.cache/pip
ENV PATH=/opt/kanslab/.venv/bin:$PATH
EXPOSE 8888
ENTRYPOINT ["/opt/kanslab/scripts/container-entrypoint.sh"]
CMD ["jupyter", "lab", "--allow-root", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--notebook-dir=/opt/kanslab/notebooks"]
