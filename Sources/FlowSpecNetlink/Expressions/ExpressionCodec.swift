import CNftnl
import FlowSpecCompiler

/// An IR expression that has no netlink form (`.unknown`, read back from a foreign table).
struct ExpressionUnencodable: Error, Sendable, Hashable {
    var reason: String
}

/// `NftExpression` <-> the kernel's expressions. Each kind's encoder (`write`, into a rule
/// message) and decoder (`decode`, from libnftnl's parse of a listed rule) live together in one
/// type (MetaExpr, PayloadExpr, ...) so that the two directions cannot drift; `RuleMessage`
/// dispatches on the IR case one way, this file on the kernel's expression name the other.
enum ExpressionCodec {
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
        case CtExpr.name: return try CtExpr.decode(e)
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
