/// `ct state established,related accept`, first in the base chain (`--accept-established`):
/// flowspec routes are stateless, so a default-drop table drops the replies of the flows its
/// routes allow unless they are let back in (docs/semantics.md, "Default drop and return
/// traffic"). It is the table's, not a route's: it carries no route identity, no route is
/// placed before it, and dispatch works on the rules after it.
public enum AcceptEstablished {
    /// The rule's comment, which tells it from the routes' rules when read back.
    public static let comment = "accept established,related"

    /// The rule, with a counter when rules count (`show` reports it).
    public static func rule(counters: Bool) -> NftRule {
        var e: [NftExpression] = [
            .ct(key: .state, dreg: .reg1),
            .bitwise(sreg: .reg1, dreg: .reg1, length: 4, mask: le(NftCtState.established | NftCtState.related), xor: [0, 0, 0, 0]),
            .cmp(op: .neq, sreg: .reg1, data: [0, 0, 0, 0]),
        ]
        if counters { e.append(.counter(packets: 0, bytes: 0)) }
        e.append(.immediateVerdict(.accept))
        return NftRule(expressions: e, comment: comment)
    }

    /// Whether `rule` is this rule (read back from the kernel, its counter's values aside).
    public static func isIt(_ rule: NftRule) -> Bool { rule.comment == comment }

    /// `ct state` bits are a host-order u32 in the register.
    private static func le(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
}
