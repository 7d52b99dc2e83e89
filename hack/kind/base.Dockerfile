# The base of the kind node image (kind build node-image --base-image), from Debian packages and
# the Go binaries of hack/kind's pins, instead of kind's own images/base, which clones and
# compiles its parts from their git hosts. It follows kind v0.33.0's images/base/Dockerfile: the
# same files (shipped in the kind module, copied here by node-image.sh), packages and services.
# Differences: runc and the CNI plugins are Debian's; no fuse-overlayfs (rootless only) and no
# NFS/iSCSI tools (storage e2e only); and the node-image adjustments at the end.
# Build context (node-image.sh): files/ = kind's images/base/files, bin/ = containerd, ctr,
# containerd-shim-runc-v2, crictl, gastown/ = hack/kind/files.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}

COPY files/ /tmp/kind-files/
RUN set -eu; f=/tmp/kind-files; \
    install -m 0755 "$f"/usr/local/bin/* /usr/local/bin/; \
    mkdir -p /kind /LICENSES /etc/systemd/system/kubelet.service.d; \
    cp -r "$f"/kind/. /kind/; chmod -R u=rwX,go=rX /kind; chmod 0755 /kind /kind/bin /kind/bin/*; \
    install -m 0644 "$f"/LICENSES/* /LICENSES/; \
    install -m 0644 "$f"/etc/crictl.yaml /etc/; \
    install -D -m 0644 -t /etc/containerd "$f"/etc/containerd/*; \
    install -D -m 0644 -t /etc/default "$f"/etc/default/*; \
    install -D -m 0644 -t /etc/sysctl.d "$f"/etc/sysctl.d/*; \
    find "$f"/etc/systemd/system -maxdepth 1 -type f -exec install -m 0644 -t /etc/systemd/system {} +; \
    install -m 0644 -t /etc/systemd/system/kubelet.service.d "$f"/etc/systemd/system/kubelet.service.d/*; \
    rm -rf "$f"

RUN DEBIAN_FRONTEND=noninteractive clean-install \
      systemd \
      conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
      libseccomp2 pigz \
      bash ca-certificates curl jq procps \
      runc containernetworking-plugins \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* \
    && rm -f /etc/systemd/system/*.wants/* \
    && rm -f /lib/systemd/system/local-fs.target.wants/* \
    && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
    && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
    && rm -f /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -s /usr/lib/systemd/systemd /sbin/init

RUN systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && mkdir -p /etc/kubernetes/manifests

COPY bin/ /usr/local/bin/
RUN ctr oci spec \
        | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
        | jq 'del(.process.rlimits)' \
        > /etc/containerd/cri-base.json \
    && containerd --version && runc --version && crictl --version \
    && mkdir -p /opt/cni/bin \
    && for p in host-local loopback ptp portmap; do ln -s "/usr/lib/cni/$p" "/opt/cni/bin/$p"; done

# Node-image adjustments, each harmless where it is not needed:
# - containerd clamps a container's oom_score_adj to its own instead of failing where the host's
#   capability bounding set lacks CAP_SYS_RESOURCE (which lowering it needs);
# - the kubelet (>= 1.35) starts on cgroup v1 hosts;
# - a static CNI configuration replaces kindnetd (see files/default-cni.yaml).
COPY gastown/10-gastown-ptp.conflist /etc/cni/net.d/10-gastown-ptp.conflist
RUN sed -i 's/^\([[:space:]]*restrict_oom_score_adj\) = false/\1 = true/' /etc/containerd/config.toml \
    && grep -q '^[[:space:]]*restrict_oom_score_adj = true' /etc/containerd/config.toml \
    && sed -i 's/^KUBELET_EXTRA_ARGS=/KUBELET_EXTRA_ARGS=--fail-cgroupv1=false /' /etc/default/kubelet \
    && grep -q -- '--fail-cgroupv1=false' /etc/default/kubelet

# systemd checks for the container environment; it stops on SIGRTMIN+3, not SIGTERM.
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
