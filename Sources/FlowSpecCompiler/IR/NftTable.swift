/// The nft IR: kernel objects as plain values, one type per object, fields named after the
/// kernel's attributes (as google/nftables does). The compiler builds it, the printer renders it
/// as `nft` text, and the netlink backend encodes it to libnftnl; nothing here knows flowspec.

/// NFPROTO_* values.
public enum NftFamily: UInt8, Sendable, Hashable {
    case inet = 1
    case ip = 2
    case ip6 = 10

    public var name: String {
        switch self { case .inet: "inet"; case .ip: "ip"; case .ip6: "ip6" }
    }
}

public struct NftTable: Sendable, Hashable {
    public var name: String
    public var family: NftFamily
    public var sets: [NftSet]
    public var objects: [NftObject]
    public var chains: [NftChain]

    public init(name: String, family: NftFamily = .inet, sets: [NftSet] = [], objects: [NftObject] = [], chains: [NftChain] = []) {
        self.name = name; self.family = family; self.sets = sets; self.objects = objects; self.chains = chains
    }

    /// Total number of rules in all chains.
    public var ruleCount: Int { chains.reduce(0) { $0 + $1.rules.count } }
}

/// NF_INET_* hook numbers.
public enum NftHook: UInt32, Sendable, Hashable, CaseIterable {
    case prerouting = 0
    case input = 1
    case forward = 2
    case output = 3
    case postrouting = 4
    /// The inet family's ingress hook (NF_INET_INGRESS, Linux 5.10): per device, before
    /// prerouting, connection tracking and the route lookup.
    case ingress = 5

    public var name: String {
        switch self {
        case .prerouting: "prerouting"; case .input: "input"; case .forward: "forward"
        case .output: "output"; case .postrouting: "postrouting"; case .ingress: "ingress"
        }
    }
}

public enum NftChainPolicy: UInt32, Sendable, Hashable {
    case drop = 0    // NF_DROP
    case accept = 1  // NF_ACCEPT
}

public struct NftChain: Sendable, Hashable {
    /// Base-chain properties; nil for a regular chain (a jump target).
    public struct Base: Sendable, Hashable {
        public var type: String
        public var hook: NftHook
        public var priority: Int32
        public var policy: NftChainPolicy
        /// The devices an ingress chain hooks (empty for the other hooks). The kernel keeps the
        /// names: a device that does not exist yet, or goes and comes back, is hooked when it
        /// appears (Linux 6.18 here; older kernels refuse a missing device).
        public var devices: [String]
        /// Hardware offload asked for (NFT_CHAIN_HW_OFFLOAD): the kernel refuses the chain unless
        /// every device's driver can take its rules.
        public var offload: Bool
        /// The kernel counts the packets the policy decides (NFTA_CHAIN_COUNTERS: a base chain's
        /// counters move only when evaluation falls off its end), for `show`'s policy row. nft's
        /// text has no syntax for it; iptables-nft uses the same counters for its chain policies.
        public var counters: Bool
        public init(type: String = "filter", hook: NftHook, priority: Int32, policy: NftChainPolicy,
                    devices: [String] = [], offload: Bool = false, counters: Bool = false) {
            self.type = type; self.hook = hook; self.priority = priority; self.policy = policy
            self.devices = devices; self.offload = offload; self.counters = counters
        }
    }

    public var name: String
    public var base: Base?
    public var rules: [NftRule]

    public init(name: String, base: Base? = nil, rules: [NftRule] = []) {
        self.name = name; self.base = base; self.rules = rules
    }
}

public struct NftRule: Sendable, Hashable {
    public var expressions: [NftExpression]
    /// Stored as the rule's userdata comment (NFTNL_UDATA_RULE_COMMENT), shown by `nft list`.
    /// The compiler puts the route identity here.
    public var comment: String?
    /// The comment of the rule's route (`FlowRoute.comment`), stored beside `comment` as a userdata
    /// TLV of our own (`RouteComments`): nft does not show it, `show` does.
    public var routeComment: String?

    public init(expressions: [NftExpression], comment: String? = nil, routeComment: String? = nil) {
        self.expressions = expressions; self.comment = comment; self.routeComment = routeComment
    }
}
