# kube-proxy for the kind node image: the pinned binary on Debian with the tools it runs
# (iptables and nftables, conntrack, ipset). The upstream image picks legacy or nft iptables at
# start (iptables-wrapper); gastown-iptables does the same, by the rule the node's entrypoint
# uses: whichever backend already has rules, legacy on a tie.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables nftables conntrack ipset kmod \
    && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
COPY iptables-wrapper /usr/sbin/iptables-wrapper
RUN for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do \
      ln -sf iptables-wrapper "/usr/sbin/$t"; \
    done
