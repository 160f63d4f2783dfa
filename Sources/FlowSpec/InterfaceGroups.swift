/// Interface scoping (`--interface-group RT=IF[,IF...]`): route targets that stand for groups of
/// the switch's interfaces. A route carrying such a target applies only to packets that arrived
/// on the interfaces of its targets' groups — the edge router's way of aiming a DDoS filter at
/// the links that face the attack (Junos `interface-group`, Nokia's per-interface embedding).
/// A route carrying none of them applies on every interface, or is ignored, as `RouteScope`'s
/// `untargeted` says.
public struct InterfaceGroups: Hashable, Sendable {
    /// Route target → its interfaces, sorted and without repeats.
    public private(set) var groups: [RouteTarget: [String]]

    public init() { groups = [:] }

    /// The groups of `map`; throws the first interface name Linux would not accept.
    public init(_ map: [RouteTarget: [String]]) throws(InvalidInterfaceName) {
        groups = [:]
        for (target, names) in map { try add(target, names) }
    }

    public var isEmpty: Bool { groups.isEmpty }

    /// Adds `names` to the group of `target`.
    public mutating func add(_ target: RouteTarget, _ names: [String]) throws(InvalidInterfaceName) {
        for n in names { if let reason = Self.problem(n) { throw InvalidInterfaceName(name: n, reason: reason) } }
        groups[target] = Array(Set(groups[target, default: []] + names)).sorted()
    }

    /// The interfaces `route` applies on: the union of the groups of the targets it carries,
    /// sorted; nil when it carries none of them (it is not scoped to interfaces).
    public func interfaces(of route: FlowRoute) -> [String]? {
        guard !groups.isEmpty else { return nil }
        var names: Set<String> = []
        var scoped = false
        for case .routeTarget(let t) in route.actions {
            if let g = groups[t] { names.formUnion(g); scoped = true }
        }
        return scoped ? names.sorted() : nil
    }

    /// Whether `route` carries a target of some group.
    public func scopes(_ route: FlowRoute) -> Bool {
        guard !groups.isEmpty else { return false }
        return route.actions.contains { if case .routeTarget(let t) = $0 { groups[t] != nil } else { false } }
    }

    /// The targets whose groups together are exactly `names` (the reverse, for `fetch`): the
    /// groups contained in `names`, when their union is all of it; nil otherwise.
    public func targets(for names: Set<String>) -> [RouteTarget]? {
        let inside = groups.filter { Set($0.value).isSubset(of: names) }
        guard !inside.isEmpty, inside.values.reduce(into: Set<String>(), { $0.formUnion($1) }) == names else { return nil }
        return inside.keys.sorted()
    }

    /// The 16 bytes the kernel compares a packet's input interface name with (`meta iifname`):
    /// the name and zeros up to IFNAMSIZ.
    public static func bytes(_ name: String) -> [UInt8] {
        let b = Array(name.utf8)
        return b + [UInt8](repeating: 0, count: 16 - b.count)
    }

    /// Why Linux would refuse `name` as an interface name (dev_valid_name), or nil. Names are
    /// kept to letters, digits and `-_.@:+` so that they need no quoting in any output.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "an interface name cannot be empty" }
        if name.utf8.count > 15 { return "an interface name has at most 15 characters (IFNAMSIZ)" }
        if name == "." || name == ".." { return "\"\(name)\" is not an interface name" }
        if name.contains("*") { return "a wildcard (*) is not supported: list the interfaces" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@:+")
        if let c = name.first(where: { !allowed.contains($0) }) { return "\"\(c)\" is not allowed in an interface name here" }
        return nil
    }
}

/// An interface name that Linux would refuse, and why.
public struct InvalidInterfaceName: Error, Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var reason: String
    public var description: String { "interface \"\(name)\": \(reason)" }
}
