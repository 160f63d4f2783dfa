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

    static func encode(_ limit: NftLimit, _ e: Expr) {
        e.set(NFTNL_EXPR_LIMIT_RATE, u64: limit.rate)
        e.set(NFTNL_EXPR_LIMIT_UNIT, u64: limit.unit.rawValue)
        e.set(NFTNL_EXPR_LIMIT_BURST, u32: limit.burst)
        e.set(NFTNL_EXPR_LIMIT_TYPE, u32: limit.kind.rawValue)
        e.set(NFTNL_EXPR_LIMIT_FLAGS, u32: limit.over ? NFT_LIMIT_F_INV.rawValue : 0)
    }

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

    static func encode(group: UInt16, prefix: String?, _ e: Expr) {
        e.set(NFTNL_EXPR_LOG_GROUP, u16: group)
        if let prefix { e.set(NFTNL_EXPR_LOG_PREFIX, string: prefix) }
    }

    static func decode(_ e: Expr) -> NftExpression {
        .log(group: e.u16(NFTNL_EXPR_LOG_GROUP), prefix: e.string(NFTNL_EXPR_LOG_PREFIX))
    }
}
