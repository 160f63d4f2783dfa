import FlowSpec

/// What delta planning needs to know about an installed table: per route (a run of consecutive
/// rules carrying the same route identity as their comment), a digest of its rules and the
/// kernel handles of those rules; the sets and named objects present. Built from a table this
/// process committed (`NftConnection.applyTracked`, `apply(_:over:)`) or read back (`init(installed:)`).
///
/// Only tables of the compiler's forms qualify: one base chain, no other chains, every rule
/// commented with one route identity or, for a rule of the merge pass, `merge <set>`. The
/// elements of merge sets are part of the state (key, key end and a digest of the element with
/// the object it names), so that a delta changes them in place.
public struct TableState: Sendable, Hashable {
    /// A merge set's element as delta planning knows it: enough to delete it, and a digest of
    /// everything that makes it (key, key end, data, and the digest of the object it names).
    public struct Element: Sendable, Hashable {
        public var key: [UInt8]
        public var keyEnd: [UInt8]?
        public var digest: UInt64
        public init(key: [UInt8], keyEnd: [UInt8]?, digest: UInt64) { self.key = key; self.keyEnd = keyEnd; self.digest = digest }
    }

    /// A merge set: a digest of its definition (flags, key and data types) and its elements
    /// (in no particular order: the kernel lists them by key, the compiler makes them by route).
    public struct MergeSet: Sendable, Hashable {
        public var definition: UInt64
        public var elements: [Element]
        public init(definition: UInt64, elements: [Element]) { self.definition = definition; self.elements = elements }

        public static func == (a: MergeSet, b: MergeSet) -> Bool {
            a.definition == b.definition && a.elements.count == b.elements.count && Set(a.elements) == Set(b.elements)
        }

        public func hash(into h: inout Hasher) {
            h.combine(definition); h.combine(elements.count)
        }
    }

    public struct ObjectEntry: Sendable, Hashable {
        public var type: NftObjectType
        public var digest: UInt64
        public init(type: NftObjectType, digest: UInt64) { self.type = type; self.digest = digest }
    }

    public struct Route: Sendable, Hashable {
        public var identity: String
        /// Digest of the route's rules (expressions, comment; counter values ignored) and of the
        /// named objects they use, so a changed rate limit changes the route.
        public var digest: UInt64
        public var handles: [UInt64]
        public init(identity: String, digest: UInt64, handles: [UInt64]) {
            self.identity = identity; self.digest = digest; self.handles = handles
        }
    }

    public var table: String
    public var family: NftFamily
    public var chain: String
    /// Digest of the base chain's definition (type, hook, priority, policy).
    public var chainDigest: UInt64
    public var routes: [Route]
    /// Names of the sets present (content names: the name implies the content).
    public var sets: Set<String>
    /// Named objects present: type and digest.
    public var objects: [String: ObjectEntry]
    /// The merge sets (also in `sets`), by name.
    public var mergeSets: [String: MergeSet]
    /// The ruleset generation right after this state was committed or read; 0 if unknown.
    public var generation: UInt32
    /// The random number the committing replace wrote into the table's userdata
    /// (`TableStamp`): a table with another stamp, or none, is not the one this state describes,
    /// whatever its generation says (a state file of another namespace, a table replaced by
    /// someone else). 0: unknown.
    public var stamp: UInt64 = 0

    public init(table: String, family: NftFamily, chain: String, chainDigest: UInt64, routes: [Route],
                sets: Set<String>, objects: [String: ObjectEntry], mergeSets: [String: MergeSet] = [:], generation: UInt32) {
        self.table = table; self.family = family; self.chain = chain; self.chainDigest = chainDigest
        self.routes = routes; self.sets = sets; self.objects = objects; self.mergeSets = mergeSets
        self.generation = generation
    }

    /// The state of `shape`'s table once committed, its rule `i` having handle `handle(i)`.
    package init(shape: TableShape, handles: (Int) -> UInt64, generation: UInt32, stamp: UInt64 = 0) {
        var routes: [Route] = []
        routes.reserveCapacity(shape.routes.count)
        for r in shape.routes {
            routes.append(Route(identity: r.identity, digest: r.digest, handles: r.rules.map(handles)))
        }
        self.init(table: shape.tableName, family: shape.family, chain: shape.chainName, chainDigest: shape.chainDigest,
                  routes: routes, sets: Set(shape.setNames), objects: shape.objectEntries,
                  mergeSets: shape.mergeSets, generation: generation)
        self.stamp = stamp
    }

    public var ruleCount: Int { routes.reduce(0) { $0 + $1.handles.count } }
    public var mergeElementCount: Int { mergeSets.values.reduce(0) { $0 + $1.elements.count } }
}

/// A table cut into routes: runs of consecutive rules with one comment, a route identity or
/// `merge <set>` (a "route" of delta planning is then the merged rule).
public struct TableShape: Sendable {
    package struct Route: Sendable {
        package var identity: String
        package var rules: Range<Int>
        package var digest: UInt64
    }
    // What the state needs of the table itself (not the table: a caller may release its rules
    // once this is made).
    package let tableName: String
    package let family: NftFamily
    package let chainName: String
    package let setNames: [String]
    package var routes: [Route] = []
    package var chainDigest: UInt64
    package var objectEntries: [String: TableState.ObjectEntry] = [:]
    /// The merge sets, with their elements' digests.
    package var mergeSets: [String: TableState.MergeSet] = [:]

    /// Nil when the table is not one base chain of rules each carrying one route identity or
    /// naming one merge set of the table.
    package init?(_ table: NftTable) {
        guard table.chains.count == 1, let base = table.chains[0].base else { return nil }
        tableName = table.name
        family = table.family
        chainName = table.chains[0].name
        setNames = table.sets.map(\.name)
        var c = StableDigest()
        c.add(table.chains[0].name); c.add(base.type); c.add(base.hook.rawValue); c.add(base.priority)
        c.add(base.policy.rawValue)
        // Only when present, so that the digests of the tables of before stay what they were.
        if !base.devices.isEmpty || base.offload { c.add(base.devices.joined(separator: "\u{0}")); c.add(base.offload) }
        if base.counters { c.add("policy counters") }
        chainDigest = c.value
        var objectEntries: [String: TableState.ObjectEntry] = [:]
        for o in table.objects { objectEntries[o.name] = .init(o) }
        var mergeSets: [String: TableState.MergeSet] = [:]
        let merged = ContentSetNames.mergeSetNames(table)
        for set in table.sets where merged.contains(set.name) {
            let definition = TableState.MergeSet.definition(of: set)
            var elements: [TableState.Element] = []
            elements.reserveCapacity(set.elements.count)
            for e in set.elements {
                elements.append(TableState.Element(e) { objectEntries[$0]?.digest ?? 0 })
            }
            mergeSets[set.name] = TableState.MergeSet(definition: definition, elements: elements)
        }
        self.objectEntries = objectEntries
        self.mergeSets = mergeSets
        let rules = table.chains[0].rules
        // A large chain is cut in two at a route boundary near its middle, and the second part
        // made on another CPU: ~0.9 µs per rule, 0.09 s of a 100k-route delta otherwise.
        var cut = rules.count
        if rules.count >= Tuning.shapeHalvesMinRules {
            cut = rules.count / 2
            while cut < rules.count && rules[cut].comment == rules[cut - 1].comment { cut += 1 }
        }
        let second = cut < rules.count ? Background { [objectEntries, mergeSets] in
            Self.routes(of: rules, cut..<rules.count, objects: objectEntries, mergeSets: mergeSets)
        } : nil
        guard let first = Self.routes(of: rules, 0..<cut, objects: objectEntries, mergeSets: mergeSets) else {
            _ = second?.wait()
            return nil
        }
        routes = first.routes
        if let second {
            guard let rest = second.wait(), first.seen.isDisjoint(with: rest.seen) else { return nil }
            routes += rest.routes
        }
    }


    /// The routes of `rules[range]` (which starts at a route's first rule and ends at a route's
    /// last), and their comments; nil when a rule carries neither a route identity nor the
    /// comment of one of `mergeSets`, or a route's rules are not consecutive.
    package static func routes(of rules: [NftRule], _ range: Range<Int>, objects: [String: TableState.ObjectEntry],
                       mergeSets: [String: TableState.MergeSet]) -> (routes: [Route], seen: Set<String>)? {
        var routes: [Route] = []
        var seen: Set<String> = []
        seen.reserveCapacity(range.count)
        routes.reserveCapacity(range.count)
        var i = range.lowerBound
        while i < range.upperBound {
            // The table's own rules (accept-established, own sessions) are kept or changed like a route's.
            guard let id = rules[i].comment, RouteIdentity.isIdentity(id) || MergedRule.set(inComment: id).map({ mergeSets[$0] != nil }) == true
                    || id == AcceptEstablished.comment || OwnSessions.isComment(id),
                  seen.insert(id).inserted else { return nil }
            var j = i
            var d = RouteDigest(id)
            while j < range.upperBound && rules[j].comment == id {
                d.add(rules[j]) { objects[$0]?.digest ?? 0 }
                j += 1
            }
            routes.append(Route(identity: id, rules: i..<j, digest: d.value))
            i = j
        }
        return (routes, seen)
    }
}

/// The digest of a route's rules (a run of rules with one comment) in a `TableState`: its
/// comment, then each rule's expressions, with the digest of every limit object a rule names,
/// and its route comment.
package struct RouteDigest {
    private var d = StableDigest()
    package init(_ comment: String) { d.add(comment) }

    package mutating func add(_ rule: NftRule, objectDigest: (String) -> UInt64) {
        d.add(UInt8(0xee))
        // By index: the expressions are read in place (iterating would copy each one).
        for k in rule.expressions.indices {
            d.add(rule.expressions[k])
            if case .objref(_, let name) = rule.expressions[k] { d.add(objectDigest(name)) }
        }
        // Only when there is one: the digests of rules without it stay what they were.
        if let note = rule.routeComment { d.add(UInt8(0xc0)); d.add(note) }
    }

    package var value: UInt64 { d.value }
}

extension TableState.Element {
    /// A merge set element as the state knows it; `objectDigest` gives the digest of the object
    /// it names.
    package init(_ e: NftSetElement, objectDigest: (String) -> UInt64) {
        var d = StableDigest()
        d.add(e)
        if let o = e.objectName { d.add(objectDigest(o)) }
        self.init(key: e.key, keyEnd: e.keyEnd, digest: d.value)
    }
}

extension TableState.MergeSet {
    /// The digest of a set's definition (flags, key and data types).
    package static func definition(of set: NftSet) -> UInt64 {
        var d = StableDigest()
        d.addDefinition(set)
        return d.value
    }
}

extension TableState.ObjectEntry {
    package init(_ o: NftObject) {
        var d = StableDigest()
        d.add(o)
        self.init(type: o.type, digest: d.value)
    }
}
