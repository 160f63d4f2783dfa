import CNftnl
import FlowSpecCompiler

/// `counter`: an anonymous packet/byte counter (its values come back on read).
enum CounterExpr {
    static let name = "counter"

    static func encode(packets: UInt64, bytes: UInt64, _ e: Expr) {
        e.set(NFTNL_EXPR_CTR_PACKETS, u64: packets)
        e.set(NFTNL_EXPR_CTR_BYTES, u64: bytes)
    }

    static func decode(_ e: Expr) -> NftExpression {
        .counter(packets: e.u64(NFTNL_EXPR_CTR_PACKETS), bytes: e.u64(NFTNL_EXPR_CTR_BYTES))
    }
}

/// `limit`: an anonymous token bucket; `over` is NFT_LIMIT_F_INV (`limit rate over`).
enum LimitExpr {
    static let name = "limit"

    static func decode(_ e: Expr) throws(NetlinkError) -> NftExpression {
        .limit(try NftLimit(rate: e.u64(NFTNL_EXPR_LIMIT_RATE), unit: e.u64(NFTNL_EXPR_LIMIT_UNIT),
                            burst: e.u32(NFTNL_EXPR_LIMIT_BURST), type: e.u32(NFTNL_EXPR_LIMIT_TYPE),
                            flags: e.u32(NFTNL_EXPR_LIMIT_FLAGS)))
    }
}

extension NftLimit {
    /// From the kernel's fields (shared by the limit expression and the named limit object).
    init(rate: UInt64, unit: UInt64, burst: UInt32, type: UInt32, flags: UInt32) throws(NetlinkError) {
        guard let unitValue = Unit(rawValue: unit) else { throw .undecodable(object: "limit", reason: "unit of \(unit) s") }
        guard let kind = Kind(rawValue: type) else { throw .undecodable(object: "limit", reason: "limit type \(type)") }
        self.init(rate: rate, unit: unitValue, burst: burst, kind: kind, over: flags & NFT_LIMIT_F_INV.rawValue != 0)
    }
}

/// `log` to an nflog group, with an optional prefix.
enum LogExpr {
    static let name = "log"

    static func decode(_ e: Expr) -> NftExpression {
        .log(group: e.u16(NFTNL_EXPR_LOG_GROUP), prefix: e.string(NFTNL_EXPR_LOG_PREFIX))
    }
}

extension CounterExpr {
    static let nameBytes = Array("counter\0".utf8)

    /// The production encoder of a rule's counter: the attributes in the order of libnftnl's
    /// `nftnl_expr_counter_build`. (A set element's counter goes through libnftnl's element
    /// object, `encode`, as the element does.)
    static func write(packets: UInt64, bytes: UInt64, into m: inout RuleMessage) {
        m.data(nameBytes) { w in w.u64(NFTA_COUNTER_BYTES, bytes); w.u64(NFTA_COUNTER_PACKETS, packets) }
    }
}

extension LimitExpr {
    static let nameBytes = Array("limit\0".utf8)

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_limit_build`.
    static func write(_ limit: NftLimit, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            w.u64(NFTA_LIMIT_RATE, limit.rate); w.u64(NFTA_LIMIT_UNIT, limit.unit.rawValue)
            w.u32(NFTA_LIMIT_BURST, limit.burst); w.u32(NFTA_LIMIT_TYPE, limit.kind.rawValue)
            w.u32(NFTA_LIMIT_FLAGS, limit.over ? NFT_LIMIT_F_INV.rawValue : 0)
        }
    }
}

extension LogExpr {
    static let nameBytes = Array("log\0".utf8)

    /// The production encoder: the attributes in the order of libnftnl's `nftnl_expr_log_build`.
    static func write(group: UInt16, prefix: String?, into m: inout RuleMessage) {
        m.data(nameBytes) { w in
            if let prefix { w.string(NFTA_LOG_PREFIX, prefix, nul: true) }
            w.u16(NFTA_LOG_GROUP, group)
        }
    }
}
