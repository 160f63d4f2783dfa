/// The RFC 8955 §5.1 / RFC 8956 §4 order of flowspec routes, turned into a byte string that sorts
/// with a plain lexicographic comparison.
///
/// RFC 8955's `flow_rule_cmp` walks both routes component by component:
/// - a component of lower type comes first; a route that has run out of components loses to one
///   that still has some (a missing component behaves like a type "infinity");
/// - prefixes (types 1, 2): IPv6 first compares the offset, lower first (RFC 8956 §4); then the
///   bits both prefixes have, lowest value first; if those are equal the longer prefix comes
///   first; if both are equal, the next component decides;
/// - every other type: the component's octets after the type octet (operators and values as on
///   the wire) as a memcmp string: the common part decides, lower first; when one string is a
///   prefix of the other the longer comes first; equal strings go on to the next component.
///
/// The key encodes each of these so that `memcmp` of two keys gives the same answer:
/// - the family octet first (1 for IPv4 before 2 for IPv6; the RFC orders one family at a time),
/// - per component its type octet, then
///   - prefix: the offset octet, then every pattern bit as a 2-bit symbol `1` (bit 0) or
///     `2` (bit 1), closed by the symbol `3`, packed four to an octet. A longer prefix continues
///     with 1 or 2 where the shorter has its end symbol 3, so the longer sorts first exactly
///     when the common bits are equal;
///   - other types: every octet `b` as the pair `00 b`, closed by `01 00`; again a longer string
///     sorts first when the common part is equal.
/// - after the last component the octet `ff`, above every type: the route with fewer components
///   sorts after the one that still has a component at that place.
/// Every component encoding ends with its own terminator, so the next component is only
/// compared when the previous ones were equal, exactly like the pseudo-code.
public struct RFC8955SortKey: Hashable, Comparable, Sendable {
    public let bytes: [UInt8]

    /// A key as `init(_:)` made it (read back from a file).
    public init(bytes: [UInt8]) { self.bytes = bytes }

    public init(_ route: FlowRoute) {
        var b = [UInt8]()
        b.reserveCapacity(48)
        route.appendRFC8955Key(to: &b)
        bytes = b
    }

    /// `a < b`: route `a` has precedence over route `b` (is evaluated first).
    public static func < (a: Self, b: Self) -> Bool {
        a.bytes.withUnsafeBufferPointer { pa in
            b.bytes.withUnsafeBufferPointer { pb in compareKeys(pa, pb) < 0 }
        }
    }
}

/// Byte-wise three-way comparison (memcmp, then shorter first).
@inline(__always)
func compareKeys(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
    let n = Swift.min(a.count, b.count)
    var i = 0
    while i < n {
        let x = a[i], y = b[i]
        if x != y { return x < y ? -1 : 1 }
        i += 1
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

extension FlowRoute {
    /// RFC 8955 §5.1 (RFC 8956 §4 for IPv6): whether `a` has precedence over `b`, i.e. is
    /// evaluated first. IPv4 routes come before IPv6 routes. Two routes with the same NLRI are
    /// not ordered (both directions answer false).
    ///
    /// Each call builds both sort keys; to order many routes use `ordered(_:)` or precompute
    /// `rfc8955SortKey` once per route.
    public static func rfc8955Order(_ a: FlowRoute, _ b: FlowRoute) -> Bool {
        RFC8955SortKey(a) < RFC8955SortKey(b)
    }

    /// The precomputed form of the RFC 8955 order for this route.
    public var rfc8955SortKey: RFC8955SortKey { RFC8955SortKey(self) }

    /// Appends the sort key described at `RFC8955SortKey`.
    func appendRFC8955Key(to out: inout [UInt8]) {
        var scratch = [UInt8]()
        appendRFC8955Key(to: &out, scratch: &scratch)
    }

    /// The same with a caller's scratch buffer (one for all routes when ordering many).
    func appendRFC8955Key(to out: inout [UInt8], scratch: inout [UInt8]) {
        out.append(UInt8(family.rawValue))
        for c in components {
            out.append(c.type.rawValue)
            switch c {
            case .destinationPrefix(let p), .sourcePrefix(let p):
                out.append(p.offset)
                var acc: UInt8 = 0
                var filled = 0
                func put(_ symbol: UInt8) {
                    acc = acc << 2 | symbol
                    filled += 1
                    if filled == 4 { out.append(acc); acc = 0; filled = 0 }
                }
                if p.length > p.offset {
                    for i in Int(p.offset)..<Int(p.length) { put(p.address.bit(i) ? 2 : 1) }
                }
                put(3)
                if filled > 0 { out.append(acc << UInt8(2 * (4 - filled))) }
            case .numeric, .bitmask:
                scratch.removeAll(keepingCapacity: true)
                c.encode(family: family, into: &scratch)
                for byte in scratch.dropFirst() { out.append(0); out.append(byte) }
                out.append(1); out.append(0)
            }
        }
        out.append(0xff)
    }
}

/// How rules are ordered in the filter.
public enum RouteOrder: Hashable, Sendable {
    /// RFC 8955 §5.1 / RFC 8956 §4.
    case rfc
    /// By a sequence number carried in a community, lowest first; routes without one follow,
    /// in RFC order among themselves.
    case sequence(SequenceCarrier)
}

/// Where a route's rule sequence number is carried, for feeds that order rules explicitly.
public enum SequenceCarrier: Hashable, Sendable {
    /// The historical convention: the 6-octet value of the traffic-marking (0x8009) community is
    /// the sequence number. Every traffic-marking community then counts as one, so use this only
    /// for feeds that follow the convention.
    case trafficMarking
    /// The low 32 bits of the value of the first extended community with this type and sub-type.
    case extendedCommunity(type: UInt8, subtype: UInt8)
    /// `local1` of the first large community with this global administrator.
    case largeCommunity(global: UInt32)

    public static let `default`: SequenceCarrier = .trafficMarking

    /// A carrier no router acts on: a large community (RFC 8092) whose global administrator is
    /// AS 4294967295, which RFC 7300 reserves, so it is no network's community namespace and no
    /// policy anywhere gives it a meaning. `fetch` writes sequence numbers here by default;
    /// `traffic-marking`, the historical convention, asks every RFC-compliant router to rewrite
    /// the DSCP of the traffic to the number's low 6 bits.
    public static let inert: SequenceCarrier = .largeCommunity(global: 4_294_967_295)

    /// The command-line form, as `init(argument:)` reads it.
    public var argument: String {
        switch self {
        case .trafficMarking: "traffic-marking"
        case .extendedCommunity(let type, let subtype): "ext:\(type):\(subtype)"
        case .largeCommunity(let global): "large:\(global)"
        }
    }

    /// The command-line form: `traffic-marking`, `ext:TYPE:SUBTYPE` or `large:GLOBAL` (numbers
    /// decimal or 0x-hex); nil for anything else.
    public init?(argument: String) {
        func number(_ s: Substring, max: UInt64) -> UInt64? {
            UInt64(decimalOrHex: s).flatMap { $0 <= max ? $0 : nil }
        }
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.first {
        case "traffic-marking" where parts.count == 1: self = .trafficMarking
        case "ext" where parts.count == 3:
            guard let t = number(parts[1], max: 0xff), let st = number(parts[2], max: 0xff) else { return nil }
            self = .extendedCommunity(type: UInt8(t), subtype: UInt8(st))
        case "large" where parts.count == 2:
            guard let g = number(parts[1], max: UInt64(UInt32.max)) else { return nil }
            self = .largeCommunity(global: UInt32(g))
        default: return nil
        }
    }

    /// Adds the community carrying `sequence` where `sequenceNumber(of:)` finds it: the writer
    /// (the fetcher) and the reader (`--order sequence`) cannot disagree. A large community
    /// carries it as `GLOBAL:sequence:0`; an extended community in its low 32 bits.
    public func stamp(_ sequence: UInt64, extended: inout [ExtendedCommunity], large: inout [LargeCommunity]) {
        switch self {
        case .trafficMarking: extended.append(ExtendedCommunity(type: 0x80, subtype: 0x09, value: sequence))
        case .extendedCommunity(let type, let subtype):
            extended.append(ExtendedCommunity(type: type, subtype: subtype, value: sequence & 0xffff_ffff))
        case .largeCommunity(let global):
            large.append(LargeCommunity(global: global, local1: UInt32(truncatingIfNeeded: sequence), local2: 0))
        }
    }

    /// The route's sequence number, from the first matching community in received order.
    public func sequenceNumber(of route: FlowRoute) -> UInt64? {
        switch self {
        case .trafficMarking:
            return route.extendedCommunities.first { $0.type == 0x80 && $0.subtype == 0x09 }.map(\.value)
        case .extendedCommunity(let type, let subtype):
            return route.extendedCommunities.first { $0.type == type && $0.subtype == subtype }
                .map { $0.value & 0xffff_ffff }
        case .largeCommunity(let global):
            return route.largeCommunities.first { $0.global == global }.map { UInt64($0.local1) }
        }
    }
}

extension Sequence where Element == FlowRoute {
    /// The routes in evaluation order.
    ///
    /// - `.rfc`: RFC 8955 §5.1 / RFC 8956 §4 order (IPv4 before IPv6).
    /// - `.sequence(c)`: sequence number ascending; routes without one after all routes with one;
    ///   equal or missing sequence numbers fall back to the RFC order.
    ///
    /// In both, default-policy routes (`isDefaultPolicy`: only 0/0 prefixes) come last, in RFC
    /// order among themselves, and routes that compare equal keep their input order.
    ///
    /// Sort keys are computed once per route into one buffer, so sorting a million routes costs
    /// no allocation per comparison.
    public func ordered(_ order: RouteOrder) -> [FlowRoute] {
        let routes = Array(self)
        return routes.orderedIndices(order).map { routes[$0] }
    }
}

extension Array where Element == FlowRoute {
    /// The permutation `ordered(_:)` applies: element `k` is the index (in `self`) of the route
    /// evaluated `k`-th. Lets a caller keep data that goes with each route (its input position)
    /// without looking it up by route afterwards.
    public func orderedIndices(_ order: RouteOrder) -> [Int] {
        sortedKeys(order).index
    }

    /// `orderedIndices`, and the `RouteOrderKey` of every route (by input position, its tiebreak
    /// that position), made from the same keys the sort used.
    public func orderedIndicesAndKeys(_ order: RouteOrder) -> (indices: [Int], keys: [RouteOrderKey]) {
        let sorted = sortedKeys(order)
        let keys = indices.map { i in
            RouteOrderKey(rank: sorted.rank[i], sequence: sorted.sequence[i],
                          key: RFC8955SortKey(bytes: [UInt8](sorted.buffer[sorted.starts[i]..<sorted.starts[i + 1]])), tiebreak: i)
        }
        return (sorted.index, keys)
    }

    /// The permutation, with the keys it was sorted by: route `i`'s RFC 8955 key is
    /// `buffer[starts[i]..<starts[i + 1]]`.
    private func sortedKeys(_ order: RouteOrder) -> (index: [Int], buffer: [UInt8], starts: [Int], rank: [UInt8], sequence: [UInt64]) {
        let routes = self
        let n = routes.count
        var buffer = [UInt8]()
        buffer.reserveCapacity(n * 40)
        var starts = [Int](repeating: 0, count: n + 1)
        var rank = [UInt8](repeating: 0, count: n)
        var sequence = [UInt64](repeating: 0, count: n)
        // The first 8 key bytes as a big-endian number (zero-padded): most comparisons are
        // decided by it without walking the keys; equal prefixes fall back to the full keys.
        var prefix = [UInt64](repeating: 0, count: n)
        var scratch = [UInt8]()
        for i in routes.indices {
            let start = buffer.count
            starts[i] = start
            routes[i].appendRFC8955Key(to: &buffer, scratch: &scratch)
            var p: UInt64 = 0
            for k in 0..<8 { p = p << 8 | UInt64(start + k < buffer.count ? buffer[start + k] : 0) }
            prefix[i] = p
            (rank[i], sequence[i]) = RouteOrderKey.rank(of: routes[i], order: order)
        }
        starts[n] = buffer.count
        let rank_ = rank, sequence_ = sequence, starts_ = starts, prefix_ = prefix
        var index = [Int](0..<n)
        buffer.withUnsafeBufferPointer { keys in
            guard let base = keys.baseAddress else { return }
            index.sort { a, b in
                if rank_[a] != rank_[b] { return rank_[a] < rank_[b] }
                if sequence_[a] != sequence_[b] { return sequence_[a] < sequence_[b] }
                if prefix_[a] != prefix_[b] { return prefix_[a] < prefix_[b] }
                let ka = UnsafeBufferPointer(start: base + starts_[a], count: starts_[a + 1] - starts_[a])
                let kb = UnsafeBufferPointer(start: base + starts_[b], count: starts_[b + 1] - starts_[b])
                let c = compareKeys(ka, kb)
                return c != 0 ? c < 0 : a < b
            }
        }
        return (index, buffer, starts, rank, sequence)
    }
}

/// Where one route stands in the evaluation order `orderedIndices` gives, as a value that can be
/// kept and compared on its own: for a caller that inserts routes into an ordered table one by one
/// (`IncrementalTable`) instead of sorting the whole list again.
///
/// `tiebreak` stands for the input position: it decides only between routes whose keys are
/// equal, which happens only for routes with the same NLRI (a file may hold such duplicates; a
/// route source keyed by NLRI never does).
public struct RouteOrderKey: Comparable, Sendable {
    /// 0 with a sequence number, 1 without, 2 default policy (as `orderedIndices`).
    public let rank: UInt8
    public let sequence: UInt64
    public let key: RFC8955SortKey
    public let tiebreak: Int

    /// A key as `init(_:order:tiebreak:)` made it (read back from a file).
    public init(rank: UInt8, sequence: UInt64, key: RFC8955SortKey, tiebreak: Int) {
        self.rank = rank; self.sequence = sequence; self.key = key; self.tiebreak = tiebreak
    }

    public init(_ route: FlowRoute, order: RouteOrder, tiebreak: Int) {
        (rank, sequence) = Self.rank(of: route, order: order)
        key = RFC8955SortKey(route)
        self.tiebreak = tiebreak
    }

    /// The rank (0 with a sequence number, 1 without, 2 the default policy) and the sequence
    /// number (0 without) of `route` under `order`.
    static func rank(of route: FlowRoute, order: RouteOrder) -> (UInt8, UInt64) {
        if route.isDefaultPolicy { return (2, 0) }
        if case .sequence(let carrier) = order, let s = carrier.sequenceNumber(of: route) { return (0, s) }
        return (1, 0)
    }

    public static func < (a: Self, b: Self) -> Bool {
        if a.rank != b.rank { return a.rank < b.rank }
        if a.sequence != b.sequence { return a.sequence < b.sequence }
        let c = a.key.bytes.withUnsafeBufferPointer { ka in b.key.bytes.withUnsafeBufferPointer { kb in compareKeys(ka, kb) } }
        return c != 0 ? c < 0 : a.tiebreak < b.tiebreak
    }
}

extension RouteOrder {
    /// The route as the compiler gets it: with `.sequence(.trafficMarking)` the traffic-marking
    /// community carries the sequence number (the historical convention), not a DSCP, so it goes.
    public func compiledForm(of route: FlowRoute) -> FlowRoute {
        guard case .sequence(.trafficMarking) = self else { return route }
        var r = route
        r.extendedCommunities.removeAll { $0.type == 0x80 && $0.subtype == 0x09 }
        return r
    }
}
