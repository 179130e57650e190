/*
 * netlink.c: stage connect of the monitor M: the veth links of `connect veth` steps, over rtnetlink
 * (rtnetlink(7), netlink(7); no `ip` command, no library). Ported from the Java VethConfigurator: the
 * same order of requests, the same rollback and the same messages.
 *
 *  M (host network namespace)                          short-lived fork of M
 *  --------------------------                          ---------------------
 *  check the step's values (PlannedLink's rules)
 *  getifaddrs: no host interface has a hostAddress     (EADDRINUSE otherwise: the kernel would accept it)
 *  socket(NETLINK_ROUTE); open /proc/<child>/ns/net   (pins the netns; must not be M's own)
 *  RTM_NEWLINK veth hostName, peer name in the netns fd (IFLA_NET_NS_FD): the sandbox end never
 *              appears on the host; MTU on both ends, MAC on the peer          -> crash point veth-created
 *  RTM_GETLINK hostName -> index; RTM_NEWADDR hostAddress...; RTM_NEWLINK IFF_UP
 *  fork ------------------------------------------->  setns(netns fd, CLONE_NEWNET); socket(NETLINK_ROUTE)
 *       <-------------------------------------------  the socket's fd over SCM_RIGHTS; _exit(0)
 *  (the socket stays in the netns it was made in)
 *  inside: RTM_GETLINK name -> index; RTM_NEWADDR address...; RTM_NEWLINK IFF_UP;
 *          RTM_NEWROUTE default via gateway                                 -> crash point veth-configured
 *  any failure after RTM_NEWLINK: RTM_DELLINK of the host end (the kernel deletes the peer with it)
 *
 * Why a fork and not setns() there and back in M: setns(2) changes the caller's namespace; a fork
 * that only opens a socket leaves M where it is whatever happens, and a netlink socket keeps the
 * network namespace it was created in (netlink(7): sockets belong to the netns of their creator).
 *
 * Errors: every message is VethConfigurator's "<what> <ifname>: <ERRNO> (<hint>)", given to
 * host_fail() as the complete hint of the step "connect veth" (sys and err empty), so M prints
 * "sandbox: connect veth: create veth sb0: EEXIST (an interface with that name already exists on
 * the host)". veth_delete's failures are "cleanup veth <name>: <message> <name>: <ERRNO> (<hint>)".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "host.h"

#define NAME_MAX_BYTES 15   /* IFNAMSIZ (16) includes the terminating NUL */
#ifndef IFF_UP
#define IFF_UP 0x1          /* linux/if.h; not included: it clashes with glibc's net/if.h */
#endif

static const char NEEDS_NET_ADMIN_HOST[] = "needs CAP_NET_ADMIN on the host";
static const char NEEDS_NET_ADMIN_SANDBOX[] = "needs CAP_NET_ADMIN over the sandbox's network namespace";

enum side { HOST, SANDBOX };
static const char *where(enum side side) { return side == HOST ? "on the host" : "in the sandbox"; }
static const char *needs_net_admin(enum side side) { return side == HOST ? NEEDS_NET_ADMIN_HOST : NEEDS_NET_ADMIN_SANDBOX; }

static const char *errname(int err, char *buf, size_t len)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *name = strerrorname_np(err);
    if (name)
        return name;
#endif
    snprintf(buf, len, "errno %d", err);
    return buf;
}

/* "<what>[ <subject>]: <ERRNO>[ (<hint>)]" as the complete message of the step `label`. */
static int fail(struct host_error *e, const char *label, const char *what, const char *subject, int err,
                const char *hint)
{
    char buf[32];
    const char *sep = subject && *subject ? " " : "";
    if (hint && *hint)
        return host_fail(e, label, NULL, NULL, 0, "%s%s%s: %s (%s)", what, sep, subject ? subject : "",
                         errname(err, buf, sizeof buf), hint);
    return host_fail(e, label, NULL, NULL, 0, "%s%s%s: %s", what, sep, subject ? subject : "",
                     errname(err, buf, sizeof buf));
}

/* ---- the step's values (PlannedLink's checks: bad input fails before the kernel is touched) ---- */

struct prefix { int family; unsigned char addr[16]; int len; };

struct link {
    const char *name, *host_name;
    const char **addr_text, **host_addr_text;   /* as written in the plan */
    struct prefix *addrs, *host_addrs;
    int naddrs, nhost_addrs;
    const char *gateway_text;
    struct prefix gateway;                      /* len unused */
    long long mtu;                              /* 0: the kernel's default */
    const char *mac_text;
    unsigned char mac[6];
};

static void link_free(struct link *l)
{
    free(l->addr_text);
    free(l->host_addr_text);
    free(l->addrs);
    free(l->host_addrs);
}

/* dev_valid_name(): 1..15 bytes, no '/', ':' or white space, not "." or "..". */
/* PlannedLink.checkName; the message names the interface itself, or `subject` when the name is empty. */
static int check_name(const char *name, const char *field, char *hint, size_t len)
{
    if (!name || !*name) {
        snprintf(hint, len, "%s is empty", field);
        return -1;
    }
    if (strlen(name) > NAME_MAX_BYTES) {
        snprintf(hint, len, "%s '%s' is longer than %d bytes, the kernel's limit", field, name, NAME_MAX_BYTES);
        return -1;
    }
    bool bad = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
    for (const unsigned char *c = (const unsigned char *)name; *c && !bad; c++)
        bad = *c == '/' || *c == ':' || isspace(*c) || *c < 0x20;
    if (bad) {
        snprintf(hint, len, "%s '%s' is not a valid interface name: no '/', ':' or spaces allowed", field, name);
        return -1;
    }
    return 0;
}

/* IpPrefix.parseAddress: a dotted quad (no DNS, octets of up to three digits) or an IPv6 literal
 * without a zone id. */
static int parse_address(const char *text, struct prefix *p, char *why, size_t len)
{
    if (!*text) {
        snprintf(why, len, "address is empty");
        return -1;
    }
    if (strchr(text, ':')) {
        for (const char *c = text; *c; c++)
            if (*c != ':' && *c != '.' && !isxdigit((unsigned char)*c)) {
                snprintf(why, len, "'%s' is not an IPv6 address", text);
                return -1;
            }
        if (inet_pton(AF_INET6, text, p->addr) != 1) {
            snprintf(why, len, "'%s' is not an IPv6 address", text);
            return -1;
        }
        p->family = AF_INET6;
        return 0;
    }
    const char *c = text;
    for (int i = 0; i < 4; i++) {
        int digits = 0, value = 0;
        while (isdigit((unsigned char)*c) && digits < 4) {
            value = value * 10 + (*c++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || (i < 3 ? *c != '.' : *c != '\0')) {
            snprintf(why, len, "'%s' is not an IPv4 or IPv6 address", text);
            return -1;
        }
        if (value > 255) {
            snprintf(why, len, "'%s' has an octet above 255", text);
            return -1;
        }
        p->addr[i] = (unsigned char)value;
        c++;
    }
    p->family = AF_INET;
    return 0;
}

static int addr_bytes(int family) { return family == AF_INET ? 4 : 16; }

/* IpPrefix.parse: "address/length". */
static int parse_prefix(const char *cidr, struct prefix *p, char *why, size_t len)
{
    const char *slash = strchr(cidr, '/');
    if (!slash) {
        snprintf(why, len, "'%s' has no prefix length; write it as CIDR, e.g. 198.18.0.1/30", cidr);
        return -1;
    }
    char text[64];
    size_t n = (size_t)(slash - cidr);
    if (n >= sizeof text) {
        snprintf(why, len, "'%.*s' is not an IPv4 or IPv6 address", (int)n, cidr);
        return -1;
    }
    memcpy(text, cidr, n);
    text[n] = '\0';
    if (parse_address(text, p, why, len))
        return -1;
    const char *l = slash + 1;
    size_t digits = strspn(l, "0123456789");
    if (!*l || digits != strlen(l) || digits > 3) {
        snprintf(why, len, "'%s' has an invalid prefix length", cidr);
        return -1;
    }
    int max = addr_bytes(p->family) * 8;
    p->len = atoi(l);
    if (p->len > max) {
        snprintf(why, len, "'%s' has a prefix length above %d", cidr, max);
        return -1;
    }
    return 0;
}

static bool prefix_contains(const struct prefix *p, const struct prefix *a)
{
    if (p->family != a->family)
        return false;
    for (int bit = 0; bit < p->len; bit++) {
        int mask = 0x80 >> (bit % 8);
        if ((p->addr[bit / 8] & mask) != (a->addr[bit / 8] & mask))
            return false;
    }
    return true;
}

static bool link_local(const struct prefix *a)
{
    return a->family == AF_INET ? a->addr[0] == 169 && a->addr[1] == 254
                                : a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80;
}

static void prefix_text(const struct prefix *p, bool with_len, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(p->family, p->addr, a, sizeof a);
    if (with_len)
        snprintf(out, len, "%s/%d", a, p->len);
    else
        snprintf(out, len, "%s", a);
}

static int plan_link(const struct step *s, struct link *l, const char *label, struct host_error *e)
{
    char hint[512];
    memset(l, 0, sizeof *l);
    l->name = get(s, "name");
    l->host_name = get(s, "hostName");
    const char *shown = l->host_name ? l->host_name : "";
    if (check_name(l->host_name, "hostName", hint, sizeof hint))
        return fail(e, label, "check link", shown, EINVAL, hint);
    if (check_name(l->name, "name", hint, sizeof hint))   /* a bad name is named itself, an empty one by hostName */
        return fail(e, label, "check link", l->name && *l->name ? l->name : shown, EINVAL, hint);
    l->addr_text = calloc((size_t)s->nkv + 1, sizeof *l->addr_text);
    l->host_addr_text = calloc((size_t)s->nkv + 1, sizeof *l->host_addr_text);
    l->addrs = calloc((size_t)s->nkv + 1, sizeof *l->addrs);
    l->host_addrs = calloc((size_t)s->nkv + 1, sizeof *l->host_addrs);
    if (!l->addr_text || !l->host_addr_text || !l->addrs || !l->host_addrs) {
        link_free(l);
        return fail(e, label, "check link", shown, ENOMEM, NULL);
    }
    for (int pass = 0; pass < 2; pass++) {   /* addresses first, then host addresses, as PlannedLink */
        const char *key = pass == 0 ? "address" : "hostAddress";
        for (int i = 0; i < s->nkv; i++) {
            if (strcmp(s->kv[i].key, key) != 0)
                continue;
            char why[256];
            struct prefix *p = pass == 0 ? &l->addrs[l->naddrs] : &l->host_addrs[l->nhost_addrs];
            if (parse_prefix(s->kv[i].val, p, why, sizeof why)) {
                snprintf(hint, sizeof hint, "%s %s", pass == 0 ? "address" : "host address", why);
                link_free(l);
                return fail(e, label, "check link", shown, EINVAL, hint);
            }
            if (pass == 0)
                l->addr_text[l->naddrs++] = s->kv[i].val;
            else
                l->host_addr_text[l->nhost_addrs++] = s->kv[i].val;
        }
    }
    l->gateway_text = get(s, "gateway");
    if (l->gateway_text) {
        char why[256];
        if (parse_address(l->gateway_text, &l->gateway, why, sizeof why)) {
            snprintf(hint, sizeof hint, "gateway %s", why);
            link_free(l);
            return fail(e, label, "check link", shown, EINVAL, hint);
        }
        bool on_link = link_local(&l->gateway);
        for (int i = 0; i < l->naddrs && !on_link; i++)
            on_link = prefix_contains(&l->addrs[i], &l->gateway);
        if (!on_link) {
            /* the kernel would refuse a gateway that is not on the link (ENETUNREACH/EINVAL): say why up front */
            int n = snprintf(hint, sizeof hint, "gateway %s is not inside any of the addresses of %s [", l->gateway_text, l->name);
            for (int i = 0; i < l->naddrs && n >= 0 && (size_t)n < sizeof hint; i++)
                n += snprintf(hint + n, sizeof hint - (size_t)n, "%s%s", i ? ", " : "", l->addr_text[i]);
            if (n >= 0 && (size_t)n < sizeof hint)
                snprintf(hint + n, sizeof hint - (size_t)n, "]");
            link_free(l);
            return fail(e, label, "check link", shown, EINVAL, hint);
        }
    }
    const char *mtu = get(s, "mtu");
    if (mtu) {
        if (!parse_number(mtu, 10, INT_MIN, INT_MAX, &l->mtu)) {
            snprintf(hint, sizeof hint, "mtu '%s' is not a number", mtu);
            link_free(l);
            return fail(e, label, "check link", shown, EINVAL, hint);
        }
        if (l->mtu <= 0) {
            snprintf(hint, sizeof hint, "mtu %lld must be positive", l->mtu);
            link_free(l);
            return fail(e, label, "check link", shown, EINVAL, hint);
        }
    }
    l->mac_text = get(s, "mac");
    if (l->mac_text) {
        const char *c = l->mac_text;
        bool ok = strlen(c) == 17;
        for (int i = 0; ok && i < 6; i++, c += 3) {
            ok = isxdigit((unsigned char)c[0]) && isxdigit((unsigned char)c[1]) && (i == 5 || c[2] == ':');
            if (ok) {
                char pair[3] = { c[0], c[1], '\0' };
                l->mac[i] = (unsigned char)strtoul(pair, NULL, 16);
            }
        }
        if (!ok) {
            snprintf(hint, sizeof hint, "mac '%s' is not six hex pairs like 02:00:00:00:00:01", l->mac_text);
            link_free(l);
            return fail(e, label, "check link", shown, EINVAL, hint);
        }
    }
    return 0;
}

/* Linux accepts the same address on two interfaces, so the kernel never says "in use": a host
 * address another interface already has would silently shadow or break that network. Refused
 * before anything is created (getifaddrs(3) lists every address of every interface; when it
 * fails, the kernel's own checks still apply). */
static int host_addresses_free(const struct link *l, const char *label, struct host_error *e)
{
    if (l->nhost_addrs == 0)
        return 0;
    struct ifaddrs *all;
    if (getifaddrs(&all) != 0)
        return 0;
    int rc = 0;
    for (int i = 0; i < l->nhost_addrs && rc == 0; i++) {
        const struct prefix *want = &l->host_addrs[i];
        for (struct ifaddrs *a = all; a && rc == 0; a = a->ifa_next) {
            if (!a->ifa_addr || a->ifa_addr->sa_family != want->family)
                continue;
            const void *have = want->family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ifa_addr)->sin_addr
                                                       : (const void *)&((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
            if (memcmp(have, want->addr, (size_t)addr_bytes(want->family)) != 0)
                continue;
            const char *text = l->host_addr_text[i];
            const char *slash = strchr(text, '/');
            rc = host_fail(e, label, NULL, NULL, 0, "create veth %s: EADDRINUSE (host address %.*s is already in use "
                           "on the host's interface %s; choose another link network from 198.18.0.0/15)",
                           l->host_name, (int)(slash ? slash - text : (long)strlen(text)), text, a->ifa_name);
        }
    }
    freeifaddrs(all);
    return rc;
}

/* ---- rtnetlink: requests, acks, replies ---- */

struct nl { int fd; uint32_t seq; char kmsg[256]; };   /* kmsg: the kernel's extended-ack text, "" when none */

/* One request; every message we send is a few hundred bytes. */
struct req { union { struct nlmsghdr h; char bytes[1024]; }; };

/* What an RTM_NEWLINK tells about a link. */
struct linkinfo { int index; unsigned flags; char kind[32]; bool peer_elsewhere; };

static void req_init(struct req *r, uint16_t type, uint16_t flags)
{
    memset(r, 0, sizeof *r);
    r->h.nlmsg_len = NLMSG_HDRLEN;
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
}

static void *put(struct req *r, const void *data, size_t len)
{
    size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
    if (at + NLMSG_ALIGN(len) > sizeof r->bytes)
        abort();   /* a programming error: our messages are fixed and small */
    char *p = r->bytes + at;
    memcpy(p, data, len);
    r->h.nlmsg_len = (uint32_t)(at + NLMSG_ALIGN(len));
    return p;
}

static void attr(struct req *r, unsigned short type, const void *data, size_t len)
{
    size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
    if (at + RTA_ALIGN(RTA_LENGTH(len)) > sizeof r->bytes)
        abort();   /* a programming error: our messages are fixed and small */
    struct rtattr *a = (struct rtattr *)(r->bytes + at);   /* the padding is zero: req_init cleared it all */
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    a->rta_type = type;
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = (uint32_t)(at + RTA_ALIGN(RTA_LENGTH(len)));
}

static void attr_str(struct req *r, unsigned short type, const char *s) { attr(r, type, s, strlen(s) + 1); }
static void attr_u32(struct req *r, unsigned short type, uint32_t v) { attr(r, type, &v, sizeof v); }

static size_t nest_begin(struct req *r, unsigned short type)
{
    size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
    struct rtattr a = { .rta_len = 0, .rta_type = type };
    put(r, &a, sizeof a);
    return at;
}

static void nest_end(struct req *r, size_t at)
{
    ((struct rtattr *)(r->bytes + at))->rta_len = (unsigned short)(r->h.nlmsg_len - at);
}

static void ifinfomsg(struct req *r, int index, unsigned flags, unsigned change)
{
    struct ifinfomsg i = { .ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = flags, .ifi_change = change };
    put(r, &i, sizeof i);
}

/* Each attribute a in [p, p+len), stopping at a malformed one. */
#define FOR_ATTR(a, p, len)                                                                            \
    for (const struct rtattr *a = (const struct rtattr *)(p); (const char *)a + sizeof *a <= (const char *)(p) + (len) \
         && a->rta_len >= sizeof *a && (const char *)a + a->rta_len <= (const char *)(p) + (len);      \
         a = (const struct rtattr *)((const char *)a + RTA_ALIGN(a->rta_len)))

static void copy_str(char *out, size_t cap, const struct rtattr *a)
{
    size_t n = a->rta_len - sizeof *a;
    const char *s = RTA_DATA(a);
    size_t k = 0;
    while (k < n && k + 1 < cap && s[k])
        k++;
    memcpy(out, s, k);
    out[k] = '\0';
}

static void parse_link(const struct nlmsghdr *h, struct linkinfo *li)
{
    memset(li, 0, sizeof *li);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
        return;
    const struct ifinfomsg *i = NLMSG_DATA(h);
    li->index = i->ifi_index;
    li->flags = i->ifi_flags;
    const char *attrs = (const char *)i + NLMSG_ALIGN(sizeof *i);
    size_t len = h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof *i));
    FOR_ATTR(a, attrs, len) {
        unsigned short type = a->rta_type & NLA_TYPE_MASK;
        if (type == IFLA_LINK_NETNSID)   /* only present when the peer is in another network namespace */
            li->peer_elsewhere = true;
        if (type == IFLA_LINKINFO)
            FOR_ATTR(b, RTA_DATA(a), RTA_PAYLOAD(a))
                if ((b->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
                    copy_str(li->kind, sizeof li->kind, b);
    }
}

/* The error of an NLMSG_ERROR (0 for an ack); its extended-ack text into n->kmsg (netlink(7),
 * NETLINK_EXT_ACK: the echoed request, only its header when NLM_F_CAPPED, then the TLVs). */
static int parse_ack(struct nl *n, const struct nlmsghdr *h)
{
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
        return EPROTO;
    const struct nlmsgerr *err = NLMSG_DATA(h);
    if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && err->error) {
        size_t off = NLMSG_HDRLEN + sizeof(int) +
                     ((h->nlmsg_flags & NLM_F_CAPPED) ? NLMSG_HDRLEN : NLMSG_ALIGN(err->msg.nlmsg_len));
        if (off < h->nlmsg_len)
            FOR_ATTR(a, (const char *)h + off, h->nlmsg_len - off)
                if ((a->rta_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
                    char text[sizeof n->kmsg];
                    copy_str(text, sizeof text, a);
                    char *start = text, *end = text + strlen(text);
                    while (isspace((unsigned char)*start))
                        start++;
                    while (end > start && isspace((unsigned char)end[-1]))
                        *--end = '\0';
                    snprintf(n->kmsg, sizeof n->kmsg, "%s", start);
                }
    }
    return -err->error;
}

static int nl_open(struct nl *n)
{
    memset(n, 0, sizeof *n);
    n->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (n->fd < 0)
        return errno;
    int one = 1;
    /* the kernel's own reason ("Nexthop has invalid gateway"); optional (netlink(7), since Linux 4.12) */
    setsockopt(n->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(n->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    struct sockaddr_nl self = { .nl_family = AF_NETLINK };
    if (bind(n->fd, (struct sockaddr *)&self, sizeof self) != 0) {
        int err = errno;
        close(n->fd);
        n->fd = -1;
        return err;
    }
    return 0;
}

static void nl_close(struct nl *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}

/* Sends r and reads until the NLMSG_ERROR of its sequence number (rtnetlink answers synchronously
 * inside sendto; anything with another number is left over from an earlier request). With li, the
 * RTM_NEWLINK answer is parsed into it. Returns 0 or an errno; n->kmsg the kernel's text. */
static int nl_request(struct nl *n, struct req *r, struct linkinfo *li)
{
    static union { struct nlmsghdr h; char bytes[64 * 1024]; } in;   /* one link's RTM_NEWLINK is a few KiB */
    r->h.nlmsg_seq = ++n->seq;
    n->kmsg[0] = '\0';
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    for (;;) {
        ssize_t sent = sendto(n->fd, r->bytes, r->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
        if (sent == (ssize_t)r->h.nlmsg_len)
            break;
        if (sent >= 0)
            return EMSGSIZE;
        if (errno != EINTR)
            return errno;
    }
    bool got_link = false;
    for (;;) {
        ssize_t got = recv(n->fd, in.bytes, sizeof in.bytes, MSG_TRUNC);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if ((size_t)got > sizeof in.bytes)
            return EMSGSIZE;
        size_t off = 0, len = (size_t)got;
        while (off + NLMSG_HDRLEN <= len) {
            const struct nlmsghdr *h = (const struct nlmsghdr *)(in.bytes + off);
            if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len - off)
                break;
            off += NLMSG_ALIGN(h->nlmsg_len);
            if (h->nlmsg_seq != r->h.nlmsg_seq)
                continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                int err = parse_ack(n, h);
                if (err == 0 && li && !got_link) {
                    snprintf(n->kmsg, sizeof n->kmsg, "no RTM_NEWLINK in the answer");
                    return EPROTO;
                }
                return err;
            }
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == RTM_NEWLINK && li && !got_link) {
                parse_link(h, li);
                got_link = true;
            }
        }
    }
}

static int get_link(struct nl *n, const char *name, struct linkinfo *li)
{
    struct req r;
    req_init(&r, RTM_GETLINK, 0);
    ifinfomsg(&r, 0, 0, 0);
    attr_str(&r, IFLA_IFNAME, name);
    return nl_request(n, &r, li);
}

static int del_link(struct nl *n, int index)
{
    struct req r;
    req_init(&r, RTM_DELLINK, 0);
    ifinfomsg(&r, index, 0, 0);
    return nl_request(n, &r, NULL);
}

/* ---- the steps, each with VethConfigurator's message ---- */

static int create_veth(struct nl *host, const struct link *l, int netns, const char *label, struct host_error *e)
{
    struct req r;
    req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg(&r, 0, 0, 0);
    attr_str(&r, IFLA_IFNAME, l->host_name);
    if (l->mtu)
        attr_u32(&r, IFLA_MTU, (uint32_t)l->mtu);
    size_t info = nest_begin(&r, IFLA_LINKINFO);
    attr_str(&r, IFLA_INFO_KIND, "veth");
    size_t data = nest_begin(&r, IFLA_INFO_DATA);
    size_t peer = nest_begin(&r, VETH_INFO_PEER);
    ifinfomsg(&r, 0, 0, 0);
    attr_str(&r, IFLA_IFNAME, l->name);
    attr_u32(&r, IFLA_NET_NS_FD, (uint32_t)netns);
    if (l->mtu)
        attr_u32(&r, IFLA_MTU, (uint32_t)l->mtu);
    if (l->mac_text)
        attr(&r, IFLA_ADDRESS, l->mac, sizeof l->mac);
    nest_end(&r, peer);
    nest_end(&r, data);
    nest_end(&r, info);
    int err = nl_request(host, &r, NULL);
    if (err == 0)
        return 0;
    char hint[512];
    const char *k = host->kmsg;
    switch (err) {
    case EEXIST: {
        struct linkinfo li;
        if (get_link(host, l->host_name, &li) == 0)
            snprintf(hint, sizeof hint, "an interface with that name already exists on the host");
        else
            snprintf(hint, sizeof hint, "an interface named %s already exists in the sandbox's network namespace", l->name);
        break;
    }
    case EINVAL:
    case ERANGE:
        if (l->mtu && (!*k || strstr(k, "MTU")))
            snprintf(hint, sizeof hint, "invalid MTU %lld: a veth accepts 68..65535", l->mtu);
        else
            snprintf(hint, sizeof hint, "%s", k);
        break;
    case EADDRNOTAVAIL:
        if (l->mac_text)
            snprintf(hint, sizeof hint, "MAC %s is not a usable unicast address: the first octet must be even, "
                     "the bytes not all zero", l->mac_text);
        else
            snprintf(hint, sizeof hint, "%s", k);
        break;
    case EOPNOTSUPP:
        snprintf(hint, sizeof hint, "this kernel has no veth support: CONFIG_VETH, module veth");
        break;
    case EPERM:
    case EACCES:
        snprintf(hint, sizeof hint, "%s: rootless callers can't create veth", NEEDS_NET_ADMIN_HOST);
        break;
    default:
        snprintf(hint, sizeof hint, "%s", k);
    }
    return fail(e, label, "create veth", l->host_name, err, hint);
}

static int find_index(struct nl *n, const char *name, enum side side, int *index, const char *label, struct host_error *e)
{
    struct linkinfo li;
    int err = get_link(n, name, &li);
    if (err == 0) {
        *index = li.index;
        return 0;
    }
    const char *hint = n->kmsg;
    if (err == ENODEV)
        hint = side == HOST ? "the host end vanished right after it was created; did the sandbox's network namespace die?"
                            : "the sandbox end is missing from the sandbox's network namespace";
    else if (err == EPERM)
        hint = needs_net_admin(side);
    return fail(e, label, "find link", name, err, hint);
}

/* RTM_NEWADDR. IPv6 gets IFA_F_NODAD, usable at once (both ends of a veth are ours, nothing else can
 * hold the address); IPv4 the prefix's broadcast address, like `ip addr add ... brd +`. */
static int add_address(struct nl *n, int index, const char *name, const struct prefix *p, enum side side,
                       const char *label, struct host_error *e)
{
    struct req r;
    req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    struct ifaddrmsg a = { .ifa_family = (unsigned char)p->family, .ifa_prefixlen = (unsigned char)p->len,
                           .ifa_flags = p->family == AF_INET6 ? IFA_F_NODAD : 0, .ifa_scope = RT_SCOPE_UNIVERSE,
                           .ifa_index = (unsigned)index };
    put(&r, &a, sizeof a);
    size_t bytes = (size_t)addr_bytes(p->family);
    attr(&r, IFA_LOCAL, p->addr, bytes);
    attr(&r, IFA_ADDRESS, p->addr, bytes);
    if (p->family == AF_INET && p->len <= 30) {
        unsigned char brd[4];
        memcpy(brd, p->addr, 4);
        for (int bit = p->len; bit < 32; bit++)
            brd[bit / 8] |= (unsigned char)(0x80 >> (bit % 8));
        attr(&r, IFA_BROADCAST, brd, 4);
    }
    int err = nl_request(n, &r, NULL);
    if (err == 0)
        return 0;
    bool v6 = p->family == AF_INET6;
    char cause[256];
    switch (err) {
    case EEXIST:
    case EADDRINUSE:
        snprintf(cause, sizeof cause, "already assigned to this interface; is it listed twice?");
        break;
    case EACCES:
        if (v6)
            snprintf(cause, sizeof cause, "IPv6 is disabled on this interface: sysctl net.ipv6.conf.%s.disable_ipv6", name);
        else
            snprintf(cause, sizeof cause, "%s", needs_net_admin(side));
        break;
    case EAFNOSUPPORT:
        snprintf(cause, sizeof cause, "this kernel has no %s", v6 ? "IPv6" : "IPv4");
        break;
    case EPERM:
        snprintf(cause, sizeof cause, "%s", needs_net_admin(side));
        break;
    default:
        snprintf(cause, sizeof cause, "%s", n->kmsg);
    }
    char text[64], hint[512];
    prefix_text(p, true, text, sizeof text);
    snprintf(hint, sizeof hint, "%s %s%s%s", text, where(side), *cause ? ": " : "", cause);
    return fail(e, label, "add address", name, err, hint);
}

static int bring_up(struct nl *n, int index, const char *name, enum side side, const char *label, struct host_error *e)
{
    struct req r;
    req_init(&r, RTM_NEWLINK, 0);
    ifinfomsg(&r, index, IFF_UP, IFF_UP);   /* only IFF_UP changes, as `ip link set up` */
    int err = nl_request(n, &r, NULL);
    if (err == 0)
        return 0;
    return fail(e, label, "bring up", name, err, err == EPERM ? needs_net_admin(side) : n->kmsg);
}

/* RTM_NEWROUTE: the default route of the gateway's family in the main table, via the link. */
static int add_default_route(struct nl *n, int index, const struct link *l, const char *label, struct host_error *e)
{
    struct req r;
    req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    struct rtmsg m = { .rtm_family = (unsigned char)l->gateway.family, .rtm_dst_len = 0, .rtm_table = RT_TABLE_MAIN,
                       .rtm_protocol = RTPROT_BOOT /* what `ip route add` uses */, .rtm_scope = RT_SCOPE_UNIVERSE,
                       .rtm_type = RTN_UNICAST };
    put(&r, &m, sizeof m);
    attr(&r, RTA_GATEWAY, l->gateway.addr, (size_t)addr_bytes(l->gateway.family));
    attr_u32(&r, RTA_OIF, (uint32_t)index);
    int err = nl_request(n, &r, NULL);
    if (err == 0)
        return 0;
    char cause[256];
    switch (err) {
    case EEXIST:
        snprintf(cause, sizeof cause, "a default route of this family already exists; only one link may have a gateway");
        break;
    case ENETUNREACH:
        snprintf(cause, sizeof cause, "the gateway is not reachable through the addresses of %s", l->name);
        break;
    case ENETDOWN:
        snprintf(cause, sizeof cause, "%s is down", l->name);
        break;
    case EPERM:
        snprintf(cause, sizeof cause, "%s", NEEDS_NET_ADMIN_SANDBOX);
        break;
    default:
        snprintf(cause, sizeof cause, "%s", n->kmsg);
    }
    char gw[INET6_ADDRSTRLEN], hint[512];
    prefix_text(&l->gateway, false, gw, sizeof gw);
    snprintf(hint, sizeof hint, "via %s%s%s", gw, *cause ? ": " : "", cause);
    return fail(e, label, "add default route", l->name, err, hint);
}

static int open_netns(pid_t child, int *fd, const char *label, struct host_error *e)
{
    char path[64], subject[32], hint[256];
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)child);
    snprintf(subject, sizeof subject, "pid %d", (int)child);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        int err = errno;
        hint[0] = '\0';
        if (err == ENOENT || err == ESRCH)
            snprintf(hint, sizeof hint, "process %d does not exist; has it exited?", (int)child);
        else if (err == EACCES || err == EPERM)
            snprintf(hint, sizeof hint, "no permission to open %s", path);
        return fail(e, label, "open network namespace of", subject, err, hint);
    }
    struct stat theirs, ours;
    if (fstat(*fd, &theirs) == 0 && stat("/proc/self/ns/net", &ours) == 0 && theirs.st_dev == ours.st_dev
        && theirs.st_ino == ours.st_ino) {
        /* creating the "sandbox" end in our own namespace would put it, and its addresses, on the host */
        close(*fd);
        *fd = -1;
        snprintf(hint, sizeof hint, "process %d is still in the host's network namespace; links need one of its own, "
                 "made with CLONE_NEWNET", (int)child);
        return fail(e, label, "open network namespace of", subject, EINVAL, hint);
    }
    return 0;
}

/* A NETLINK_ROUTE socket inside the network namespace netns: a fork joins it (setns(2) needs a
 * single-threaded caller and CAP_SYS_ADMIN over the namespace), opens the socket and sends its fd
 * back over SCM_RIGHTS (unix(7)). Returns 0 or an errno; *died when the fork gave no answer. */
static int socket_in_netns(int netns, struct nl *inside, bool *died)
{
    int sv[2];
    *died = false;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(sv[0]);
        close(sv[1]);
        return err;
    }
    if (pid == 0) {
        close(sv[0]);
        int result = 0;
        struct nl n = { .fd = -1 };
        if (setns(netns, CLONE_NEWNET) != 0)
            result = errno;
        else
            result = nl_open(&n);
        union { struct cmsghdr c; char buf[CMSG_SPACE(sizeof(int))]; } control;
        struct iovec iov = { .iov_base = &result, .iov_len = sizeof result };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (result == 0) {
            memset(&control, 0, sizeof control);
            msg.msg_control = control.buf;
            msg.msg_controllen = sizeof control.buf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &n.fd, sizeof(int));
        }
        _exit(sendmsg(sv[1], &msg, MSG_NOSIGNAL) < 0 ? 1 : 0);
    }
    close(sv[1]);
    int result = 0;
    union { struct cmsghdr c; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = { .iov_base = &result, .iov_len = sizeof result };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = sizeof control.buf };
    ssize_t got;
    do
        got = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    int err = got < 0 ? errno : 0;
    close(sv[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (err)
        return err;
    if (got != (ssize_t)sizeof result) {
        *died = true;
        return ECHILD;
    }
    if (result)
        return result;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
        *died = true;
        return EPROTO;
    }
    memset(inside, 0, sizeof *inside);
    memcpy(&inside->fd, CMSG_DATA(c), sizeof(int));
    return 0;
}

/* Deleting the host end deletes the sandbox end too (veth_dellink unregisters the peer). A failure
 * here is added to the message of the failure that caused the rollback. */
static bool rollback(struct nl *host, const char *host_name, int index, struct host_error *e)
{
    int err = 0;
    if (index <= 0) {
        struct linkinfo li = { 0 };
        err = get_link(host, host_name, &li);
        index = li.index;
    }
    if (err == 0)
        err = del_link(host, index);
    if (err == 0 || err == ENODEV)
        return true;
    char buf[32];
    size_t n = strlen(e->hint);
    if (n < sizeof e->hint)
        snprintf(e->hint + n, sizeof e->hint - n, "; delete veth %s: %s (left behind after the failure; remove it "
                 "with 'ip link del %s')", host_name, errname(err, buf, sizeof buf), host_name);
    return false;
}

int veth_setup(const struct step *s, pid_t child, bool *left_behind, struct host_error *e)
{
    char label[128];
    host_step_label(s, label, sizeof label);
    struct link l;
    if (plan_link(s, &l, label, e))
        return -1;
    int rc = -1, netns = -1, index = 0, inside_index = 0, err;
    bool created = false;
    struct nl host = { .fd = -1 }, inside = { .fd = -1 };
    if (host_addresses_free(&l, label, e))
        goto out;
    if ((err = nl_open(&host))) {
        fail(e, label, "open netlink socket", "NETLINK_ROUTE", err, NULL);
        goto out;
    }
    if (open_netns(child, &netns, label, e))
        goto out;
    if (create_veth(&host, &l, netns, label, e))
        goto out;
    created = true;
    crash_point("veth-created");
    if (find_index(&host, l.host_name, HOST, &index, label, e))
        goto out;
    for (int i = 0; i < l.nhost_addrs; i++)
        if (add_address(&host, index, l.host_name, &l.host_addrs[i], HOST, label, e))
            goto out;
    if (bring_up(&host, index, l.host_name, HOST, label, e))
        goto out;

    bool died;
    if ((err = socket_in_netns(netns, &inside, &died))) {
        char subject[32];
        snprintf(subject, sizeof subject, "pid %d", (int)child);
        fail(e, label, "join network namespace of", subject, err,
             died ? "the process forked to join it ended without an answer"
             : err == EPERM ? "needs CAP_SYS_ADMIN to join the sandbox's network namespace"
             : err == EINVAL ? "the namespace fd is not a network namespace" : NULL);
        goto out;
    }
    if (find_index(&inside, l.name, SANDBOX, &inside_index, label, e))
        goto out;
    for (int i = 0; i < l.naddrs; i++)
        if (add_address(&inside, inside_index, l.name, &l.addrs[i], SANDBOX, label, e))
            goto out;
    if (bring_up(&inside, inside_index, l.name, SANDBOX, label, e))
        goto out;
    /* last: a gateway must be reachable through an address of a link that is already up */
    if (l.gateway_text && add_default_route(&inside, inside_index, &l, label, e))
        goto out;
    crash_point("veth-configured");
    rc = 0;
out:
    if (rc != 0 && created && !rollback(&host, l.host_name, index, e) && left_behind)
        *left_behind = true;
    nl_close(&inside);
    nl_close(&host);
    if (netns >= 0)
        close(netns);
    link_free(&l);
    return rc;
}

/* Deletes the host end named host_name. Gone already (ENODEV) is success. Only a veth whose peer is
 * in another network namespace can be a sandbox's host end (veth_setup never creates one whose peer
 * is on the host, and a host end disappears with the sandbox's namespace): any other veth of that
 * name belongs to someone else, e.g. the interface whose name made `create veth` fail with EEXIST
 * after the journal had recorded the name. It is left alone and that is success: nothing of ours
 * is there. Anything that is not a veth is refused (EINVAL). */
int veth_delete(const char *host_name, struct host_error *e)
{
    char step[128], hint[512];
    snprintf(step, sizeof step, "cleanup veth %s", host_name ? host_name : "");
    if (check_name(host_name, "hostName", hint, sizeof hint))
        return host_fail(e, step, "RTM_DELLINK", host_name, EINVAL, "%s", hint);
    struct nl n;
    int err = nl_open(&n);
    if (err)
        return host_fail(e, step, "socket", "NETLINK_ROUTE", err, NULL);
    struct linkinfo li;
    int rc = 0;
    err = get_link(&n, host_name, &li);
    if (err && err != ENODEV)
        rc = host_fail(e, step, "RTM_GETLINK", host_name, err, "%s", err == EPERM ? NEEDS_NET_ADMIN_HOST : n.kmsg);
    else if (err == 0 && strcmp(li.kind, "veth") != 0) {
        if (*li.kind)
            rc = host_fail(e, step, "RTM_DELLINK", host_name, EINVAL, "%s is a %s, not a veth; refusing to delete it",
                           host_name, li.kind);
        else
            rc = host_fail(e, step, "RTM_DELLINK", host_name, EINVAL, "%s is not a veth; refusing to delete it", host_name);
    } else if (err == 0 && li.peer_elsewhere) {
        err = del_link(&n, li.index);
        if (err && err != ENODEV)
            rc = host_fail(e, step, "RTM_DELLINK", host_name, err, "%s", err == EPERM ? NEEDS_NET_ADMIN_HOST : n.kmsg);
    }
    nl_close(&n);
    return rc;
}

/* ---- labs (docs/labs.md): a veth between two network namespaces, and the configuration of one
 * namespace from inside it. Used by lab.c only; no host end ever exists. Each returns 0 or an errno
 * with the kernel's text (or ours) in why. ---- */


/* The lab functions' netlink socket, in the caller's netns; on failure `why` names the call. */
static int lab_nl_open(struct nl *n, char *why, size_t len)
{
    int err = nl_open(n);
    if (err)
        snprintf(why, len, "socket(NETLINK_ROUTE)");
    return err;
}

/* RTM_NEWLINK from the caller's netns: the device itself created in ns_a (IFLA_NET_NS_FD at the top
 * level, rtnetlink(7)), its peer in ns_b; the kernel checks each name in its own namespace. */
int lab_veth(int ns_a, const char *if_a, int ns_b, const char *if_b, long long mtu, char *why, size_t len)
{
    struct nl n;
    int err = lab_nl_open(&n, why, len);
    if (err)
        return err;
    struct req r;
    req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg(&r, 0, 0, 0);
    attr_str(&r, IFLA_IFNAME, if_a);
    attr_u32(&r, IFLA_NET_NS_FD, (uint32_t)ns_a);
    if (mtu)
        attr_u32(&r, IFLA_MTU, (uint32_t)mtu);
    size_t info = nest_begin(&r, IFLA_LINKINFO);
    attr_str(&r, IFLA_INFO_KIND, "veth");
    size_t data = nest_begin(&r, IFLA_INFO_DATA);
    size_t peer = nest_begin(&r, VETH_INFO_PEER);
    ifinfomsg(&r, 0, 0, 0);
    attr_str(&r, IFLA_IFNAME, if_b);
    attr_u32(&r, IFLA_NET_NS_FD, (uint32_t)ns_b);
    if (mtu)
        attr_u32(&r, IFLA_MTU, (uint32_t)mtu);
    nest_end(&r, peer);
    nest_end(&r, data);
    nest_end(&r, info);
    err = nl_request(&n, &r, NULL);
    if (err == EEXIST)
        snprintf(why, len, "an interface named %s or %s already exists in its node's namespace", if_a, if_b);
    else if (err == EPERM)
        snprintf(why, len, "needs CAP_NET_ADMIN over both network namespaces");
    else if ((err == EINVAL || err == ERANGE) && mtu)
        snprintf(why, len, "invalid MTU %lld: a veth accepts 68..65535%s%s", mtu, *n.kmsg ? "; " : "", n.kmsg);
    else
        snprintf(why, len, "%s", n.kmsg);
    nl_close(&n);
    return err;
}

/* In the caller's (the node's) netns: address `cidr` on `ifname` (NULL: none), then the link up. */
int lab_here_link(const char *ifname, const char *cidr, char *why, size_t len)
{
    struct nl n;
    int err = lab_nl_open(&n, why, len);
    if (err)
        return err;
    struct linkinfo li;
    err = get_link(&n, ifname, &li);
    if (err) {
        snprintf(why, len, "find link %s: %s", ifname, n.kmsg);
    } else if (cidr) {
        struct prefix p;
        if (parse_prefix(cidr, &p, why, len)) {
            err = EINVAL;
        } else {
            struct host_error e;
            if (add_address(&n, li.index, ifname, &p, SANDBOX, "lab", &e) != 0) {
                err = EADDRNOTAVAIL;
                snprintf(why, len, "%s", e.hint);
            }
        }
    } else {
        struct req r;
        req_init(&r, RTM_NEWLINK, 0);
        ifinfomsg(&r, li.index, IFF_UP, IFF_UP);
        err = nl_request(&n, &r, NULL);
        if (err)
            snprintf(why, len, "bring up %s: %s", ifname, n.kmsg);
    }
    nl_close(&n);
    return err;
}

/* In the caller's netns: RTM_NEWROUTE `to` (a prefix) via `via` (a plain address), main table. */
int lab_here_route(const char *to, const char *via, char *why, size_t len)
{
    struct prefix dst, gw;
    if (parse_prefix(to, &dst, why, len) || parse_address(via, &gw, why, len))
        return EINVAL;
    if (dst.family != gw.family) {
        snprintf(why, len, "route to %s via %s mixes IPv4 and IPv6", to, via);
        return EINVAL;
    }
    struct nl n;
    int err = lab_nl_open(&n, why, len);
    if (err)
        return err;
    struct req r;
    req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    struct rtmsg m = { .rtm_family = (unsigned char)dst.family, .rtm_dst_len = (unsigned char)dst.len, .rtm_table = RT_TABLE_MAIN,
                       .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
    put(&r, &m, sizeof m);
    attr(&r, RTA_DST, dst.addr, (size_t)addr_bytes(dst.family));
    attr(&r, RTA_GATEWAY, gw.addr, (size_t)addr_bytes(gw.family));
    err = nl_request(&n, &r, NULL);
    if (err == ENETUNREACH)
        snprintf(why, len, "route to %s: the gateway %s is not on any of the node's links", to, via);
    else if (err)
        snprintf(why, len, "route to %s via %s: %s", to, via, n.kmsg);
    nl_close(&n);
    return err;
}

/* In the caller's netns: a bridge `name` (RTM_NEWLINK kind bridge), brought up. */
int lab_here_bridge(const char *name, char *why, size_t len)
{
    struct nl n;
    int err = lab_nl_open(&n, why, len);
    if (err)
        return err;
    struct req r;
    req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg(&r, 0, IFF_UP, IFF_UP);
    attr_str(&r, IFLA_IFNAME, name);
    size_t info = nest_begin(&r, IFLA_LINKINFO);
    attr_str(&r, IFLA_INFO_KIND, "bridge");
    nest_end(&r, info);
    err = nl_request(&n, &r, NULL);
    if (err == EOPNOTSUPP)
        snprintf(why, len, "this kernel has no bridge support: CONFIG_BRIDGE, module bridge");
    else if (err)
        snprintf(why, len, "create bridge %s: %s", name, n.kmsg);
    nl_close(&n);
    return err;
}

/* In the caller's netns: `port` enslaved to the bridge `bridge` (IFLA_MASTER) and up. */
int lab_here_enslave(const char *port, const char *bridge, char *why, size_t len)
{
    struct nl n;
    int err = lab_nl_open(&n, why, len);
    if (err)
        return err;
    struct linkinfo p, b;
    if ((err = get_link(&n, port, &p)) != 0 || (err = get_link(&n, bridge, &b)) != 0) {
        snprintf(why, len, "find link %s or %s: %s", port, bridge, n.kmsg);
        nl_close(&n);
        return err;
    }
    struct req r;
    req_init(&r, RTM_NEWLINK, 0);
    ifinfomsg(&r, p.index, IFF_UP, IFF_UP);
    attr_u32(&r, IFLA_MASTER, (uint32_t)b.index);
    err = nl_request(&n, &r, NULL);
    if (err)
        snprintf(why, len, "enslave %s to %s: %s", port, bridge, n.kmsg);
    nl_close(&n);
    return err;
}

/* In the caller's netns: RTM_DELLINK of `ifname` (lab.c, `down NODE`); one that is gone is done. */
int lab_here_delete(const char *ifname, char *why, size_t len)
{
    struct nl n;
    int err = lab_nl_open(&n, why, len);
    if (err)
        return err;
    struct linkinfo li;
    err = get_link(&n, ifname, &li);
    if (err == ENODEV) {
        err = 0;
    } else if (err) {
        snprintf(why, len, "find link %s: %s", ifname, n.kmsg);
    } else if ((err = del_link(&n, li.index)) == ENODEV) {
        err = 0;
    } else if (err) {
        snprintf(why, len, "delete %s: %s", ifname, n.kmsg);
    }
    nl_close(&n);
    return err;
}

/* ------------------------------------------------------------------------------------------ */
/* connect sysctl: a net.* sysctl of the sandbox's own network namespace (issue 12)           */

/* The rules of dev.sandbox.api.NetSysctls, checked again: the plan file is input. */
static bool sysctl_name_ok(const char *n)
{
    if (strncmp(n, "net.", 4) != 0)
        return false;
    bool word = false;
    for (const char *c = n + 4; *c; c++) {
        if (*c == '.') {
            if (!word)
                return false;
            word = false;
        } else if (isalnum((unsigned char)*c) || *c == '_' || *c == '-') {
            word = true;
        } else {
            return false;
        }
    }
    return word;
}

static bool sysctl_value_ok(const char *v)
{
    size_t len = strlen(v);
    if (len < 1 || len > 64)
        return false;
    for (const char *c = v; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_.:, -", *c))
            return false;
    return true;
}

static bool same_ns(int fd, const char *ours)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(ours, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* What the fork reports: which call failed (0: none) and its errno. */
enum { SC_OK, SC_SETNS_USER, SC_SETNS_NET, SC_OPEN, SC_WRITE };
struct sysctl_result { int call; int err; };

int netns_sysctl(const struct step *s, pid_t child, struct host_error *e)
{
    const char *name = get(s, "name"), *value = get(s, "value");
    char label[160], path[PATH_MAX], nspath[64];
    snprintf(label, sizeof label, "connect sysctl %s", name ? name : "");
    if (!name || !value || !sysctl_name_ok(name) || !sysctl_value_ok(value))
        return host_fail(e, label, NULL, NULL, 0, "check sysctl: EINVAL (a net.* name of dot-separated words and a plain value of "
                         "1-64 letters, digits, spaces and '_ . : , -')");
    snprintf(path, sizeof path, "/proc/sys/%s", name);
    for (char *c = path + strlen("/proc/sys/"); *c; c++)
        if (*c == '.')
            *c = '/';
    snprintf(nspath, sizeof nspath, "/proc/%d/ns/net", (int)child);
    int netfd = open(nspath, O_RDONLY | O_CLOEXEC);
    if (netfd < 0)
        return host_fail(e, label, "open", nspath, errno, "the sandbox's process is gone, or its namespace files can't be opened");
    if (same_ns(netfd, "/proc/self/ns/net")) {
        /* the host's (or the monitor's) namespace: writing there would change the host */
        close(netfd);
        return host_fail(e, label, "setns", nspath, EINVAL, "the sandbox has no network namespace of its own; refusing to set %s "
                         "in the host's", name);
    }
    /* Why the user namespace first, rootless: setns(2) into a network namespace needs CAP_SYS_ADMIN in
     * the caller's own user namespace too (netns_install), which only the sandbox's gives a caller
     * that is not root; as its owner we have every capability there (user_namespaces(7)). Root needs
     * none of it and keeps its credentials (a map without uid 0 must not matter). */
    int userfd = -1;
    bool in_userns = false; /* the sandbox has a user namespace of its own: the kernel allows fewer sysctls */
    char upath[64];
    snprintf(upath, sizeof upath, "/proc/%d/ns/user", (int)child);
    userfd = open(upath, O_RDONLY | O_CLOEXEC);
    if (userfd < 0 && geteuid() != 0) {
        int err = errno;
        close(netfd);
        return host_fail(e, label, "open", upath, err, "the sandbox's user namespace can't be opened");
    }
    in_userns = userfd >= 0 && !same_ns(userfd, "/proc/self/ns/user");
    if (userfd >= 0 && (!in_userns || geteuid() == 0)) {
        close(userfd);
        userfd = -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        int err = errno;
        close(netfd);
        if (userfd >= 0)
            close(userfd);
        return host_fail(e, label, "pipe2", NULL, err, NULL);
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* setns(2) in a fork: M itself never leaves the host's namespaces */
        struct sysctl_result r = { SC_OK, 0 };
        int fd = -1;
        size_t len = strlen(value);
        if (userfd >= 0 && setns(userfd, CLONE_NEWUSER) < 0)
            r = (struct sysctl_result){ SC_SETNS_USER, errno };
        else if (setns(netfd, CLONE_NEWNET) < 0)
            r = (struct sysctl_result){ SC_SETNS_NET, errno };
        else if ((fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) /* proc(5): /proc/sys/net is the opener's netns */
            r = (struct sysctl_result){ SC_OPEN, errno };
        else if (write(fd, value, len) != (ssize_t)len)
            r = (struct sysctl_result){ SC_WRITE, errno ? errno : EIO };
        if (write(p[1], &r, sizeof r) != (ssize_t)sizeof r)
            _exit(1);
        _exit(0);
    }
    int forked = errno;
    close(p[1]);
    close(netfd);
    if (userfd >= 0)
        close(userfd);
    if (pid < 0) {
        close(p[0]);
        return host_fail(e, label, "fork", NULL, forked, NULL);
    }
    struct sysctl_result r = { SC_SETNS_NET, EIO };
    ssize_t got;
    do
        got = read(p[0], &r, sizeof r);
    while (got < 0 && errno == EINTR);
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (got != (ssize_t)sizeof r)
        return host_fail(e, label, "fork", NULL, 0, "the process that enters the sandbox's network namespace died");
    switch (r.call) {
    case SC_OK:
        return 0;
    case SC_SETNS_USER:
        return host_fail(e, label, "setns CLONE_NEWUSER", nspath, r.err, "entering the sandbox's user namespace to reach its network namespace");
    case SC_SETNS_NET:
        return host_fail(e, label, "setns CLONE_NEWNET", nspath, r.err, "entering the sandbox's network namespace");
    case SC_OPEN:
        if (r.err == ENOENT)
            return host_fail(e, label, "open", path, r.err, "no such sysctl in a network namespace%s",
                             in_userns ? "; the kernel hides some from one owned by a user namespace, as the sandbox's is" : "");
        if (r.err == EACCES || r.err == EPERM)
            return host_fail(e, label, "open", path, r.err, "%s", in_userns
                             ? "the kernel keeps this sysctl read-only in a network namespace owned by a user namespace, as the "
                               "sandbox's is (rootless, or namespaces.user); as root without namespaces.user more of them are writable"
                             : "the kernel keeps this sysctl read-only in a network namespace other than the host's");
        return host_fail(e, label, "open", path, r.err, NULL);
    default:
        return host_fail(e, label, "write", path, r.err, "the value '%s' was refused", value);
    }
}
