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

    /// The second half of a `limit rate over X drop` pair as the compiler writes it: no rate, no
    /// logging, no drop; DSCP marking, a mark and `accept` (or no verdict: T bit) may follow.
    var isConforming: Bool { verdict != .drop && rate == nil && !sample && (verdict == .accept || dscp != nil || mark != nil) }
    var isPlainDrop: Bool { verdict == .drop && rate == nil && !sample && dscp == nil && mark == nil }
}

/// One rule as both readers hand it over: where, the match, and the effect. A rule read element
/// by element (a lookup in a merged set) is one `ReadRule` per element, all at the rule's index,
/// each with the element in `position.element`; `common` is then what the rule matches besides
/// the set (its matches outside the key), a superset of every element's match.
struct ReadRule: Sendable {
    var position: RulePosition
    var match: RuleMatch
    var effect: RuleEffect
    var common: RuleMatch? = nil
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

    /// `rules` in chain order (rules with problems already removed; the elements of a rule read
    /// element by element in a row).
    mutating func assemble(_ rules: [ReadRule], policy: RuleEffect.Verdict?, policyPosition: RulePosition) {
        var i = 0
        // Conforming rules already taken as the second half of an earlier limit.
        var paired = Set<Int>()
        var conforming: [String: [Int]]?
        var blocks: [Int: Range<Int>] = [:]
        while i < rules.count {
            if paired.contains(i) { i += 1; continue }
            var rule = rules[i]
            var continues = rule.effect.verdict == .none
            if let rate = rule.effect.rate {
                // A limit pair: `M limit rate over X drop` + `M accept`, or `M limit rate X accept` + `M drop`.
                let next = i + 1 < rules.count && !paired.contains(i + 1) ? rules[i + 1] : nil
                // Rules of one route carry the same comment (the compiler's route identity); two
                // rules with different comments are never one pair.
                // (For merged rules, the element's comment.) A rule between them that was not
                // read (a problem) could take some of the traffic: then they are no pair either.
                let sameRoute = next.map { $0.position.index <= rule.position.index + 1
                    && ($0.position.identity == nil || rule.position.identity == nil
                        || $0.position.identity == rule.position.identity) } ?? false
                let pairs = sameRoute && (next.map { $0.match == rule.match && (rate.over ? $0.effect.isConforming : $0.effect.isPlainDrop) } ?? false)
                if rate.over && rule.effect.verdict == .drop {
                    // A merged limit map and the set its routes' conforming halves went to are
                    // two rules, not always adjacent: the second half is then found by identity.
                    var later: Int?
                    if !pairs {
                        if conforming == nil {
                            conforming = Self.conformingByIdentity(rules)
                            blocks = Self.blocks(rules)
                        }
                        later = Self.laterConforming(i, in: rules, candidates: conforming!, blocks: blocks, taken: paired)
                    }
                    if pairs || later != nil {
                        let other = later.map { rules[$0] } ?? next!
                        // The conforming rule carries the route's other actions (marking,
                        // redirect) and its verdict: none means the T bit (evaluation continues).
                        rule.effect.dscp = other.effect.dscp
                        rule.effect.mark = other.effect.mark
                        rule.effect.warnings += other.effect.warnings
                        continues = other.effect.verdict == .none
                        if let later { paired.insert(later) } else { i += 1 }
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

    /// The rules that can be the second half of a limit pair, by identity (element or rule comment).
    static func conformingByIdentity(_ rules: [ReadRule]) -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for (j, r) in rules.enumerated() where r.effect.isConforming {
            if let id = r.position.identity { out[id, default: []].append(j) }
        }
        return out
    }

    /// Where the read rules of each chain rule (its elements) lie in `rules`.
    static func blocks(_ rules: [ReadRule]) -> [Int: Range<Int>] {
        var out: [Int: Range<Int>] = [:]
        var start = 0
        for k in rules.indices where k + 1 == rules.count || rules[k + 1].position.index != rules[k].position.index {
            out[rules[k].position.index] = start ..< k + 1
            start = k + 1
        }
        return out
    }

    /// The most rules (elements) compared with a limit's match while looking for its second half.
    static let pairingBudget = 4096

    /// The second half of limit rule `i` when it is not the next rule: the first later rule with
    /// the same identity and the same match that is a conforming rule, provided no rule between
    /// them can match a packet the limit matches (`RuleMatch.isDisjoint`), so that the traffic the
    /// limit lets through reaches it unchanged. Each rule between them must have been read (a
    /// problem rule could match anything); rules at the limit's or the half's own index are other
    /// elements of the same set, which a packet's lookup does not meet. Nil when there is none, or
    /// when that cannot be shown within `pairingBudget` comparisons (the limit then keeps the T bit
    /// and the second half becomes a route of its own: both exact).
    static func laterConforming(_ i: Int, in rules: [ReadRule], candidates: [String: [Int]], blocks: [Int: Range<Int>],
                                taken: Set<Int>) -> Int? {
        let limit = rules[i]
        guard let id = limit.position.identity, let list = candidates[id],
              let j = list.first(where: { $0 > i && !taken.contains($0) && rules[$0].match == limit.match }) else { return nil }
        let from = limit.position.index, to = rules[j].position.index
        guard to > from, let after = blocks[from]?.upperBound, let stop = blocks[to]?.lowerBound else { return nil }
        var seen = 0
        var budget = pairingBudget
        var k = after
        while k < stop {
            let r = rules[k]
            let at = r.position.index
            seen += 1
            // The whole rule at once when what it matches besides its set is disjoint already.
            if let common = r.common, common.isDisjoint(from: limit.match) {
                k = blocks[at]!.upperBound
                continue
            }
            let block = blocks[at]!
            budget -= block.count
            if budget < 0 { return nil }
            for m in block where !rules[m].match.isDisjoint(from: limit.match) { return nil }
            k = block.upperBound
        }
        return seen == to - from - 1 ? j : nil
    }

    /// Components whose every value still requires the transport header.
    static let transportTypes: Set<ComponentType> = [.port, .destinationPort, .sourcePort, .icmpType, .icmpCode]

    private mutating func emit(_ rule: ReadRule, continues: Bool, sequenceIndex: Int, isPolicy: Bool = false) {
        let effect = rule.effect
        var actions: [FlowAction] = []
        var ipv6Communities: [IPv6ExtendedCommunity] = []
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
            if case .ipv6(let address) = target.global {
                // rt-redirect-ipv6 (RFC 8956 §6.1): an IPv6 route target travels in attribute 25.
                ipv6Communities.append(IPv6FlowAction.rtRedirect(address: address, local: UInt16(truncatingIfNeeded: target.local)).community)
            } else {
                actions.append(.redirect(target))
            }
        }
        if let names = rule.match.interfaces {
            guard let targets = options.interfaceGroups.targets(for: names) else {
                problems.append(FetchProblem(position: rule.position,
                                             reason: "scoped to input interface\(names.count == 1 ? "" : "s") \(names.sorted().joined(separator: ",")), which no --interface-group makes up (give the groups the table was applied with)"))
                return
            }
            actions += targets.map(FlowAction.routeTarget)
        }
        var communities = actions.map(\.community)
        var large: [LargeCommunity] = []
        let sequence = UInt64(sequenceIndex) * options.sequenceStep
        var carried: UInt64? = sequence
        if let carrier = options.sequenceCarrier {
            if carrier == .trafficMarking, let dscp = effect.dscp {
                carried = nil
                warnings.append("sequence number \(sequence) not carried: traffic-marking already sets DSCP \(dscp)")
            } else {
                carrier.stamp(sequence, extended: &communities, large: &large)
            }
        } else {
            carried = nil
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
                                          largeCommunities: large, ipv6ExtendedCommunities: ipv6Communities)
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
