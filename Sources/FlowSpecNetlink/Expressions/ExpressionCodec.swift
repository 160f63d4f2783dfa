import CNftnl
import FlowSpecCompiler

/// An IR expression that has no netlink form (`.unknown`, read back from a foreign table).
struct ExpressionUnencodable: Error, Sendable, Hashable {
    var reason: String
}

/// `NftExpression` <-> libnftnl expression. Each kind's encode and decode live together in
/// one type (MetaExpr, PayloadExpr, ...) so the two directions cannot drift; this file only
/// dispatches, on the IR case one way and on the kernel's expression name the other.
enum ExpressionCodec {
    /// A new libnftnl expression for `expression`; ownership passes to the caller (a rule takes
    /// it with nftnl_rule_add_expr).
    static func encode(_ expression: NftExpression) throws(ExpressionUnencodable) -> OpaquePointer? {
        let name: String
        switch expression {
        case .unknown(let kind): throw ExpressionUnencodable(reason: "expression \(kind) was read from the kernel and has no IR form, so it cannot be written back")
        case .meta, .metaSet: name = MetaExpr.name
        case .payload, .payloadSet: name = PayloadExpr.name
        case .exthdr: name = ExthdrExpr.name
        case .cmp: name = CmpExpr.name
        case .bitwise: name = BitwiseExpr.name
        case .range: name = RangeExpr.name
        case .lookup, .mapLookup: name = LookupExpr.name
        case .objref, .objrefMap: name = ObjrefExpr.name
        case .counter: name = CounterExpr.name
        case .limit: name = LimitExpr.name
        case .log: name = LogExpr.name
        case .immediateVerdict, .immediateData: name = ImmediateExpr.name
        }
        guard let raw = nftnl_expr_alloc(name) else { return nil }
        let e = Expr(raw: raw)
        switch expression {
        case .meta(let key, let dreg): MetaExpr.encode(key: key, dreg: dreg, sreg: nil, e)
        case .metaSet(let key, let sreg): MetaExpr.encode(key: key, dreg: nil, sreg: sreg, e)
        case .payload(let base, let offset, let length, let dreg):
            PayloadExpr.encode(base: base, offset: offset, length: length, dreg: dreg, e)
        case .payloadSet(let base, let offset, let length, let sreg, let csumType, let csumOffset):
            PayloadExpr.encodeSet(base: base, offset: offset, length: length, sreg: sreg,
                                  checksumType: csumType, checksumOffset: csumOffset, e)
        case .exthdr(let header, let dreg): ExthdrExpr.encode(header, dreg: dreg, e)
        case .cmp(let op, let sreg, let data): CmpExpr.encode(op: op, sreg: sreg, data: data, e)
        case .bitwise(let sreg, let dreg, let length, let mask, let xor):
            BitwiseExpr.encode(sreg: sreg, dreg: dreg, length: length, mask: mask, xor: xor, e)
        case .range(let op, let sreg, let from, let to): RangeExpr.encode(op: op, sreg: sreg, from: from, to: to, e)
        case .lookup(let set, let sreg, let invert): LookupExpr.encode(set: set, sreg: sreg, dreg: nil, invert: invert, e)
        case .mapLookup(let set, let sreg, let dreg): LookupExpr.encode(set: set, sreg: sreg, dreg: dreg, invert: false, e)
        case .objref(let type, let objectName): ObjrefExpr.encode(type: type, name: objectName, e)
        case .objrefMap(let set, let sreg): ObjrefExpr.encodeMap(set: set, sreg: sreg, e)
        case .counter(let packets, let bytes): CounterExpr.encode(packets: packets, bytes: bytes, e)
        case .limit(let limit): LimitExpr.encode(limit, e)
        case .log(let group, let prefix): LogExpr.encode(group: group, prefix: prefix, e)
        case .immediateVerdict(let verdict): ImmediateExpr.encode(verdict: verdict, e)
        case .immediateData(let dreg, let data): ImmediateExpr.encode(dreg: dreg, data: data, e)
        case .unknown: break
        }
        return raw
    }

    /// The IR value of a (borrowed) libnftnl expression read from the kernel. An expression kind
    /// the IR lacks, or one whose attributes it cannot hold, becomes `.unknown`, so that listing a
    /// foreign table never fails because of one rule (the fetcher reports such rules by position).
    static func decode(_ raw: OpaquePointer) -> NftExpression {
        let e = Expr(raw: raw)
        do throws(NetlinkError) {
            return try decodeKnown(e)
        } catch {
            if case .undecodable(_, let reason) = error { return .unknown(name: "\(e.name) (\(reason))") }
            return .unknown(name: "\(e.name) (\(error))")
        }
    }

    static func decodeKnown(_ e: Expr) throws(NetlinkError) -> NftExpression {
        switch e.name {
        case MetaExpr.name: return try MetaExpr.decode(e)
        case PayloadExpr.name: return try PayloadExpr.decode(e)
        case ExthdrExpr.name: return try ExthdrExpr.decode(e)
        case CmpExpr.name: return try CmpExpr.decode(e)
        case BitwiseExpr.name: return try BitwiseExpr.decode(e)
        case RangeExpr.name: return try RangeExpr.decode(e)
        case LookupExpr.name: return try LookupExpr.decode(e)
        case ObjrefExpr.name: return try ObjrefExpr.decode(e)
        case CounterExpr.name: return CounterExpr.decode(e)
        case LimitExpr.name: return try LimitExpr.decode(e)
        case LogExpr.name: return LogExpr.decode(e)
        case ImmediateExpr.name: return try ImmediateExpr.decode(e)
        case let other: return .unknown(name: other)
        }
    }

    /// A generous upper bound of the netlink bytes `expression` encodes to (attribute headers,
    /// nests, padding), used to reserve batch space before libnftnl writes without bounds checks.
    static func sizeEstimate(_ expression: NftExpression) -> Int {
        switch expression {
        case .cmp(_, _, let data), .immediateData(_, let data): 96 + data.count
        case .bitwise(_, _, _, let mask, let xor): 128 + mask.count + xor.count
        case .range(_, _, let from, let to): 112 + from.count + to.count
        case .lookup(let set, _, _), .mapLookup(let set, _, _), .objrefMap(let set, _): 96 + set.utf8.count
        case .objref(_, let name): 80 + name.utf8.count
        case .log(_, let prefix): 80 + (prefix?.utf8.count ?? 0)
        case .immediateVerdict(let v): 96 + (v.chain?.utf8.count ?? 0)
        default: 128
        }
    }
}
