import FlowSpec

/// What a rule does to the traffic it matches, in flowspec terms.
struct RuleEffect: Hashable, Sendable {
    enum Verdict: Hashable, Sendable { case accept, drop, none }
    struct Rate: Hashable, Sendable {
        var perSecond: Double
        var bytes: Bool
        /// `limit rate over` (acts on the excess) vs `limit rate` (matches the conforming part).
        var over: Bool
    }
    var verdict: Verdict = .none
    var rate: Rate?
    var sample = false
    var dscp: UInt8?
    var mark: UInt32?
    var warnings: [String] = []

    /// True when the rule only accepts (no statement): the second half of a limit pair.
    var isPlainAccept: Bool { verdict == .accept && rate == nil && !sample && dscp == nil && mark == nil }
    /// The second half of a `limit rate over X drop` pair as the compiler writes it: no rate, no
    /// logging, no drop; DSCP marking, a mark and `accept` (or no verdict: T bit) may follow.
    var isConforming: Bool { verdict != .drop && rate == nil && !sample && (verdict == .accept || dscp != nil || mark != nil) }
    var isPlainDrop: Bool { verdict == .drop && rate == nil && !sample && dscp == nil && mark == nil }
}

/// One rule as both readers hand it over: where, the match (nil: the reader already reported a
/// problem), and the effect.
struct ReadRule: Sendable {
    var position: RulePosition
    var match: RuleMatch
    var effect: RuleEffect
}

/// Turns read rules into routes: pairs limit rules, decides actions, numbers the rules,
/// expands prefix lists and families. Shared by `ChainReader` and `IptablesSaveReader` so both
/// map statements the same way (docs/fetcher.md, "Actions").
struct RouteAssembler {
    var options: FetchOptions
    /// The families the table/input can carry (an `inet` rule without a family match gives both).
    var tableFamilies: Set<AddressFamily>
    var routes: [FetchedRoute] = []
    var problems: [FetchProblem] = []

    init(options: FetchOptions, tableFamilies: Set<AddressFamily>) {
        self.options = options; self.tableFamilies = tableFamilies
    }

    /// `rules` in chain order (rules with problems already removed); `ruleCount` counts all.
    mutating func assemble(_ rules: [ReadRule], policy: RuleEffect.Verdict?, policyPosition: RulePosition) {
        var i = 0
        while i < rules.count {
            var rule = rules[i]
            var continues = rule.effect.verdict == .none
            if let rate = rule.effect.rate {
                // A limit pair: `M limit rate over X drop` + `M accept`, or `M limit rate X accept` + `M drop`.
                let next = i + 1 < rules.count ? rules[i + 1] : nil
                // Rules of one route carry the same comment (the compiler's route identity); two
                // rules with different comments are never one pair.
                let sameRoute = next.map { $0.position.comment == nil || rule.position.comment == nil
                    || $0.position.comment == rule.position.comment } ?? false
                let pairs = sameRoute && (next.map { $0.match == rule.match && (rate.over ? $0.effect.isConforming : $0.effect.isPlainDrop) } ?? false)
                if rate.over && rule.effect.verdict == .drop {
                    if pairs, let next {
                        // The conforming rule carries the route's other actions (marking,
                        // redirect) and its verdict: none means the T bit (evaluation continues).
                        rule.effect.dscp = next.effect.dscp
                        rule.effect.mark = next.effect.mark
                        rule.effect.warnings += next.effect.warnings
                        continues = next.effect.verdict == .none
                        i += 1
                    } else {
                        // Conforming traffic goes on to the next rules: flowspec's T bit.
                        continues = true
                        rule.effect.warnings.append("no matching accept rule follows: conforming traffic continues (traffic-action terminal bit set)")
                    }
                } else if !rate.over && rule.effect.verdict == .accept && pairs {
                    i += 1; continues = false
                } else {
                    problems.append(FetchProblem(position: rule.position, reason: rate.over
                        ? "limit rate over with verdict \(rule.effect.verdict) has no flowspec equivalent (only 'limit rate over X drop')"
                        : "limit rate X accept needs a following rule with the same match and drop (traffic over the rate would go on to later rules)"))
                    i += 1
                    continue
                }
            }
            emit(rule, continues: continues, sequenceIndex: rule.position.index)
            i += 1
        }
        if let policy {
            var match = RuleMatch()
            match.destinations = nil
            let effect = RuleEffect(verdict: policy)
            emit(ReadRule(position: policyPosition, match: match, effect: effect), continues: false,
                 sequenceIndex: policyPosition.index, isPolicy: true)
        }
    }

    /// Components whose every value still requires the transport header.
    static let transportTypes: Set<ComponentType> = [.port, .destinationPort, .sourcePort, .icmpType, .icmpCode]

    private mutating func emit(_ rule: ReadRule, continues: Bool, sequenceIndex: Int, isPolicy: Bool = false) {
        let effect = rule.effect
        var actions: [FlowAction] = []
        var warnings = rule.match.warnings + effect.warnings
        if let rate = effect.rate {
            let value = Float(rate.perSecond)
            actions.append(rate.bytes ? .trafficRateBytes(asn: options.rateASN, bytesPerSecond: value)
                                      : .trafficRatePackets(asn: options.rateASN, packetsPerSecond: value))
        } else if effect.verdict == .drop {
            actions.append(.trafficRateBytes(asn: options.rateASN, bytesPerSecond: 0))
        }
        if effect.sample || continues { actions.append(.trafficAction(sample: effect.sample, terminal: continues)) }
        if let d = effect.dscp { actions.append(.trafficMarking(dscp: d, value: UInt64(d))) }
        if let mark = effect.mark {
            guard let target = options.markTargets[mark] else {
                problems.append(FetchProblem(position: rule.position,
                                             reason: "mark \(mark) has no route target (give a mark → route-target map)"))
                return
            }
            actions.append(.redirect(target))
        }
        var communities = actions.map(\.community)
        var large: [LargeCommunity] = []
        let sequence = UInt64(sequenceIndex) * options.sequenceStep
        var carried: UInt64? = sequence
        switch options.sequenceCarrier {
        case .none: carried = nil
        case .trafficMarking:
            if effect.dscp != nil {
                carried = nil
                warnings.append("sequence number \(sequence) not carried: traffic-marking already sets DSCP \(effect.dscp!)")
            } else {
                communities.append(ExtendedCommunity(type: 0x80, subtype: 0x09, value: sequence))
            }
        case .extendedCommunity(let type, let subtype):
            communities.append(ExtendedCommunity(type: type, subtype: subtype, value: sequence))
        case .largeCommunity(let global, let local1):
            large.append(LargeCommunity(global: global, local1: local1, local2: UInt32(truncatingIfNeeded: sequence)))
        }

        if let never = rule.match.numeric.first(where: { $0.value.isEmpty }) {
            problems.append(FetchProblem(position: rule.position, reason: "\(never.key.name) can never match: the rule is dead"))
            return
        }
        if let never = rule.match.bitmask.first(where: { $0.value.isEmpty }) {
            problems.append(FetchProblem(position: rule.position, reason: "\(never.key.name) can never match: the rule is dead"))
            return
        }
        // An ICMP (1) / ICMPv6 (58) match without a family match can only mean one family.
        var implied = rule.match.families
        if implied == nil, let proto = rule.match.singleProtocol, proto == 1 || proto == 58 {
            implied = [proto == 1 ? .ipv4 : .ipv6]
        }
        let families = (implied ?? tableFamilies).intersection(tableFamilies).sorted()
        if families.isEmpty {
            problems.append(FetchProblem(position: rule.position, reason: "matches no address family of the table"))
            return
        }
        var made = 0
        var deadFamilies = Set<AddressFamily>()
        for family in families {
            let dsts: [FlowPrefix?] = rule.match.destinations.map { $0.filter { $0.family == family } } ?? [nil]
            let srcs: [FlowPrefix?] = rule.match.sources.map { $0.filter { $0.family == family } } ?? [nil]
            for d in dsts {
                for s in srcs {
                    var components: [Component] = []
                    if let d { components.append(.destinationPrefix(d)) }
                    if let s { components.append(.sourcePrefix(s)) }
                    for (type, set) in rule.match.numeric.sorted(by: { $0.key < $1.key }) {
                        // A transport field that accepts every value still says something: the
                        // packet has that transport header (TCP/UDP, ICMP) and is not a non-first
                        // fragment. The compiler keeps `th dport >= 0` for exactly that.
                        if set == .all(type.maxValue) && !Self.transportTypes.contains(type) { continue }
                        // Packet lengths: IPv4 up to 65535, IPv6 from 40 to 65575.
                        let top: UInt64 = type == .packetLength && family == .ipv6 ? RuleMatch.domainMax(type) : type.maxValue
                        if type == .packetLength {
                            let possible = IntervalSet([(family == .ipv6 ? 40 : 0)...top])
                            if set.intersection(possible) == possible { continue }
                        }
                        guard type.exists(in: family) else { continue }
                        components.append(.numeric(type, numericTerms(set.intersection(.all(top)), max: top)))
                    }
                    var dead = false
                    for (type, dnf) in rule.match.bitmask.sorted(by: { $0.key < $1.key }) {
                        // Rewritten from the exact set of values it accepts (BitmaskNormalForm):
                        // nil is "always", [] is "never".
                        guard let normal = type == .fragment ? BitmaskNormalForm.fragment(dnf, family: family)
                                                             : BitmaskNormalForm.tcpFlags(dnf) else { continue }
                        if normal.isEmpty { dead = true; break }
                        // An empty AND-group is "always": the component says nothing.
                        if normal.contains(where: \.isEmpty) { continue }
                        var terms: [BitmaskTerm] = []
                        for group in normal {
                            for (j, var t) in group.enumerated() { t.and = j > 0; terms.append(t) }
                        }
                        if !terms.isEmpty { components.append(.bitmask(type, terms)) }
                    }
                    if dead { deadFamilies.insert(family); continue }
                    components.sort { $0.type < $1.type }
                    var extra = warnings
                    if components.isEmpty || components.allSatisfy({ $0.prefix?.isAny == true }) {
                        // Flowspec has no empty NLRI: "everything" is 0/0 both ways, i.e. the
                        // default-policy route.
                        components = [.destinationPrefix(FlowPrefix(address: .zero(family), length: 0)!),
                                      .sourcePrefix(FlowPrefix(address: .zero(family), length: 0)!)]
                        if !isPolicy { extra.append("matches every packet: read as the default-policy route; later rules are unreachable") }
                    }
                    let route = FlowRoute(family: family, components: components, extendedCommunities: communities,
                                          largeCommunities: large)
                    routes.append(FetchedRoute(route: route, position: rule.position, sequence: carried, warnings: extra))
                    made += 1
                }
            }
        }
        if made == 0 && !deadFamilies.isEmpty {
            problems.append(FetchProblem(position: rule.position, reason: "its fragment or tcp flags tests can never match together: the rule is dead"))
        } else if made == 0 {
            problems.append(FetchProblem(position: rule.position, reason: "the rule's prefixes and family match exclude each other"))
        }
    }
}
