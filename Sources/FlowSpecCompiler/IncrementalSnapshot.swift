import FlowSpec

/// An `IncrementalTable` as bytes, so that a one-shot `apply` can hand it to the next run: that
/// run then compiles only the routes that changed in its file instead of all of them (at 100k
/// routes compiling is most of a run).
///
/// What is written is the planner as it stands — units, rules of units that stay single, groups
/// with their boxes, the chain's slots — and per route its order key, digest, units and limit
/// objects; indexes are rebuilt on reading. The format is this build's: a snapshot whose magic,
/// version or context (compile options and route order) differs is no snapshot, and `apply`
/// compiles everything as before.
extension IncrementalTable {
    static let magic: [UInt8] = Array("flowspec-nft-incremental".utf8) + [0, 7]

    /// What a snapshot must have been made with to be used: the compile options and the order.
    static func context(_ options: CompileOptions, _ order: RouteOrder) -> UInt64 {
        var d = StableDigest()
        d.add(options.tableName); d.add(options.chainName); d.add(options.hook.rawValue); d.add(options.priority)
        d.add(options.defaultPolicy == .drop); d.add(UInt32(options.logGroup)); d.add(options.counters); d.add(options.merge)
        d.add(options.devices.joined(separator: "\u{0}")); d.add(options.offload); d.add(options.acceptEstablished)
        for (target, mark) in options.redirectMarks.map({ ("\($0.key)", $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            d.add(target); d.add(mark)
        }
        for (nextHop, mark) in options.nextHopMarks.sorted(by: { $0.key < $1.key }) {
            d.add("\(nextHop)"); d.add(mark)
        }
        d.add(options.unmappedRedirect.rawValue)
        for session in options.protectedSessions { d.add(session.comment); d.add("\(session)") }
        for (target, names) in options.interfaceGroups.groups.sorted(by: { $0.key < $1.key }) {
            d.add("\(target)"); d.add(names.joined(separator: ","))
        }
        d.add("\(order)")
        return d.value
    }

    package func serialized() -> [UInt8] {
        var w = ByteWriter()
        let p = compiler.planner
        w.bytes.reserveCapacity(4096 + p.units.count * 140)
        w.bytes += Self.magic
        w.u64(Self.context(options, order))
        w.u8(consistent ? 1 : 0)
        w.u8(compiler.policy.map { $0 == .drop ? 1 : 2 } ?? 0)
        w.u32(UInt32(compiler.identities.count))
        for (id, limit) in zip(compiler.identities, compiler.limitNames) { w.string(id); w.optionalString(limit) }
        w.u32(UInt32(compiler.objects.count))
        for o in compiler.objects { w.object(o) }
        w.dictionary(refusals.sorted { $0.key < $1.key }) { w, v in w.string(v) }
        w.dictionary(notes.sorted { $0.key < $1.key }) { w, v in w.list(v) { $0.string($1) } }
        w.dictionary(valueSetNames.sorted { $0.key < $1.key }) { $0.string($1) }
        w.dictionary(valueSetRefs.sorted { $0.key < $1.key }) { $0.u32(UInt32($1)) }
        w.dictionary(compiler.routeComments.byIdentity.sorted { $0.key < $1.key }) { $0.string($1) }
        // The planner.
        w.u8(p.exactCounters ? 1 : 0)
        var tails = [[NftExpression]](repeating: [], count: p.tailIDs.count)
        for (t, i) in p.tailIDs.ids { tails[i] = t }
        w.list(tails) { $0.expressions($1) }
        w.list(p.units) { w, u in w.u32(UInt32(u.route)); w.u32(UInt32(u.tailID)) }
        w.list(p.singles.sorted { $0.key < $1.key }) { w, s in w.u32(UInt32(s.key)); w.expressions(s.value) }
        w.list(p.singleBox.sorted { $0.key < $1.key }) { w, s in w.u32(UInt32(s.key)); w.box(s.value) }
        var groups: [MergeGroup] = []
        var slots: [(UInt8, Int)] = []
        for s in p.slots {
            switch s {
            case .single(let u): slots.append((0, u))
            case .group(let g): slots.append((1, groups.count)); groups.append(g)
            }
        }
        // Residual expressions are made once per group (they may name a value set of the pool).
        var pool = compiler.pool
        for g in groups { _ = g.residual(pool: &pool) }
        compiler.pool = pool
        w.list(compiler.pool.sets) { $0.set($1) }
        w.list(groups) { w, g in
            w.shape(g.shape)
            w.u8(g.terminal ? 1 : 0)
            w.expressions(g.founderSingle)
            w.expressions(g.residualExprs ?? [])
            w.list(g.units) { $0.u32(UInt32($1)) }
            w.list(g.boxes) { $0.box($1) }
            w.list(g.boxUnit) { $0.u32(UInt32(bitPattern: Int32($1))) }
            w.list(g.limitNames.sorted { $0.key < $1.key }) { w, l in w.u32(UInt32(l.key)); w.string(l.value) }
            w.list(g.shadowing.sorted()) { $0.u32(UInt32($1)) }
            w.optionalString(g.setName)
        }
        w.list(slots) { w, s in w.u8(s.0); w.u32(UInt32(s.1)) }
        // The routes.
        w.list(entries) { w, e in
            guard let e else { w.u8(0); return }
            w.u8(e.isDefault ? 2 : 1)
            w.u8(e.key.rank); w.u64(e.key.sequence); w.data(e.key.key.bytes); w.u64(UInt64(bitPattern: Int64(e.key.tiebreak)))
            w.u32(UInt32(e.units.lowerBound)); w.u32(UInt32(e.units.upperBound))
            w.list(e.objects) { $0.string($1) }
            w.u64(e.digest)
        }
        return w.bytes
    }

    /// The table a snapshot holds; nil when the bytes are not a complete snapshot of this
    /// version, or were made with other options or another order.
    package static func restore(_ bytes: [UInt8], options: CompileOptions, order: RouteOrder) -> IncrementalTable? {
        var r = ByteReader(bytes: bytes)
        guard r.take(magic.count) == magic[...], r.u64() == context(options, order), r.u8() == 1,
              let policy = r.u8(), let idCount = r.count() else { return nil }
        let t = IncrementalTable(options: options, order: order)
        var c = RouteCompiler(options: options)
        c.keepPlanner = true
        c.policy = policy == 1 ? .drop : policy == 2 ? .accept : nil
        c.identities.reserveCapacity(idCount)
        c.limitNames.reserveCapacity(idCount)
        for _ in 0..<idCount {
            guard let id = r.string(), let limit = r.optionalString() else { return nil }
            c.identities.append(id); c.limitNames.append(limit)
        }
        guard let objectCount = r.count() else { return nil }
        for _ in 0..<objectCount {
            guard let o = r.object() else { return nil }
            c.objects.append(o); c.objectNames.insert(o.name)
        }
        guard let refusals = r.dictionary({ $0.string() }), let notes = r.dictionary({ $0.list { $0.string() } }),
              let valueSetNames = r.dictionary({ $0.string() }), let valueSetRefs = r.dictionary({ $0.u32().map(Int.init) }),
              let routeComments = r.dictionary({ $0.string() }), let exact = r.u8() else { return nil }
        c.routeComments = RouteComments(routeComments)
        t.refusals = refusals
        t.notes = notes
        t.valueSetNames = valueSetNames
        t.valueSetRefs = valueSetRefs
        var p = MergePlanner(exactCounters: exact == 1)
        p.tracksGroups = true
        guard let tails = r.list({ $0.expressions() }) else { return nil }
        for (i, tail) in tails.enumerated() { p.tailIDs.set(tail, i) }
        guard let units = r.list({ r -> MergePlanner.UnitInfo? in
            guard let route = r.u32(), let tail = r.u32(), Int(route) < idCount, Int(tail) < tails.count else { return nil }
            return .init(route: Int(route), identity: c.identities[Int(route)], tailID: Int(tail))
        }) else { return nil }
        p.units = units
        p.unitGroup = [MergeGroup?](repeating: nil, count: units.count)
        guard let singles = r.list({ r -> (Int, [NftExpression])? in
            guard let u = r.u32(), let e = r.expressions() else { return nil }
            return (Int(u), e)
        }), let singleBoxes = r.list({ r -> (Int, Box)? in
            guard let u = r.u32(), let b = r.box() else { return nil }
            return (Int(u), b)
        }) else { return nil }
        for (u, e) in singles { p.singles[u] = e }
        for (u, b) in singleBoxes { p.singleBox[u] = b }
        guard let poolSets = r.list({ $0.set() }) else { return nil }
        c.pool = SetPool(restoring: poolSets)
        guard let groups = r.list({ r -> MergeGroup? in
            guard let shape = r.shape(), let terminal = r.u8(), let founder = r.expressions(), let residual = r.expressions(),
                  let members = r.list({ $0.u32().map(Int.init) }), let boxes = r.list({ $0.box() }),
                  let boxUnit = r.list({ $0.u32().map { Int(Int32(bitPattern: $0)) } }), boxUnit.count == boxes.count,
                  let limits = r.list({ r -> (Int, String)? in
                      guard let u = r.u32(), let n = r.string() else { return nil }
                      return (Int(u), n)
                  }),
                  let shadowing = r.list({ $0.u32().map(Int.init) }), let name = r.optionalString() else { return nil }
            let g = MergeGroup(shape: shape, terminal: terminal == 1, founderSingle: founder, residualExprs: residual)
            g.restore(units: members, boxes: boxes, boxUnit: boxUnit)
            for (u, n) in limits { g.limitNames[u] = n }
            g.shadowing = Set(shadowing)
            g.setName = name
            return g
        }) else { return nil }
        guard let slots = r.list({ r -> MergePlanner.Slot? in
            guard let tag = r.u8(), let v = r.u32().map(Int.init) else { return nil }
            if tag == 0 { return v < units.count ? .single(v) : nil }
            return v < groups.count ? .group(groups[v]) : nil
        }) else { return nil }
        p.slots = slots
        for g in groups { for u in g.units where u < units.count { p.unitGroup[u] = g } }
        guard let entries = r.list({ r -> Entry?? in
            guard let tag = r.u8() else { return nil }
            if tag == 0 { return .some(nil) }
            guard let rank = r.u8(), let sequence = r.u64(), let key = r.data(), let tiebreak = r.u64(),
                  let lo = r.u32(), let hi = r.u32(), lo <= hi, let objects = r.list({ $0.string() }),
                  let digest = r.u64() else { return nil }
            return .some(Entry(key: RouteOrderKey(rank: rank, sequence: sequence, key: RFC8955SortKey(bytes: key),
                                                  tiebreak: Int(Int64(bitPattern: tiebreak))),
                               units: Int(lo)..<Int(hi), objects: objects, isDefault: tag == 2, digest: digest))
        }), entries.count == idCount, r.atEnd else { return nil }
        c.planner = p
        t.compiler = c
        t.entries = entries
        t.routeCount = entries.count { $0 != nil }
        t.index()
        return t
    }
}

/// A journal of updates made since a snapshot: a one-shot `apply` that changed a few routes
/// appends one record instead of writing the whole snapshot again (at 100k routes that is 26 MB).
extension IncrementalTable {
    static let journalTag: UInt8 = 0x4a

    /// One update as a journal record: the identities taken out and the routes added, with
    /// their tiebreaks (`Update.removed`, `Update.added`).
    package static func journalRecord(removed: [String], added: [(route: FlowRoute, tiebreak: Int)]) -> [UInt8] {
        var body = ByteWriter()
        body.list(removed) { $0.string($1) }
        body.list(added) { w, a in
            w.u8(a.route.family == .ipv4 ? 4 : 6)
            w.data(a.route.nlriBytes)
            w.list(a.route.extendedCommunities) { $0.u64($1.rawValue) }
            w.list(a.route.largeCommunities) { w, c in w.u32(c.global); w.u32(c.local1); w.u32(c.local2) }
            w.list(a.route.ipv6ExtendedCommunities) { $0.data($1.bytes) }
            w.u64(UInt64(bitPattern: Int64(a.tiebreak)))
            w.optionalString(a.route.comment)
        }
        var w = ByteWriter()
        w.u8(journalTag)
        w.data(body.bytes)
        return w.bytes
    }

    /// Makes the updates of `journal` (records from `journalRecord`, in order) again. False when
    /// a record is cut or unreadable or its update cannot be made: the table is then of no use.
    package func replay(_ journal: [UInt8]) -> Bool {
        var r = ByteReader(bytes: journal)
        while !r.atEnd {
            guard r.u8() == Self.journalTag, let body = r.data() else { return false }
            var b = ByteReader(bytes: body)
            guard let removed = b.list({ $0.string() }),
                  let added = b.list({ b -> (route: FlowRoute, tiebreak: Int)? in
                      guard let f = b.u8(), f == 4 || f == 6, let nlri = b.data(),
                            let ext = b.list({ $0.u64().map { ExtendedCommunity(rawValue: $0) } }),
                            let large = b.list({ b -> LargeCommunity? in
                                guard let g = b.u32(), let l1 = b.u32(), let l2 = b.u32() else { return nil }
                                return LargeCommunity(global: g, local1: l1, local2: l2)
                            }),
                            let ext6 = b.list({ $0.data().flatMap { IPv6ExtendedCommunity(bytes: $0) } }),
                            let tiebreak = b.u64(), let comment = b.optionalString() else { return nil }
                      let family: AddressFamily = f == 4 ? .ipv4 : .ipv6
                      guard let components = try? FlowNLRICodec.decodeComponents(nlri, family: family) else { return nil }
                      var route = FlowRoute(family: family, components: components, extendedCommunities: ext, largeCommunities: large,
                                            ipv6ExtendedCommunities: ext6)
                      route.comment = comment
                      return (route, Int(Int64(bitPattern: tiebreak)))
                  }), b.atEnd,
                  update(removing: removed, adding: added) != nil else { return false }
        }
        return true
    }
}

extension MergeGroup {
    /// Puts back the members and boxes of a group read from a snapshot (tombstones too); the
    /// index is made when the group is searched often (`forEachCandidate`).
    func restore(units: [Int], boxes: [Box], boxUnit: [Int]) {
        self.units = units
        for (b, u) in zip(boxes, boxUnit) {
            self.boxes.append(b)
            self.boxUnit.append(u)
            widenHull(b)
        }
    }
}

// MARK: - The values

extension ByteWriter {
    mutating func optionalString(_ s: String?) {
        if let s { u8(1); string(s) } else { u8(0) }
    }

    mutating func list<T>(_ items: [T], _ each: (inout ByteWriter, T) -> Void) {
        u32(UInt32(items.count))
        for i in items { each(&self, i) }
    }

    mutating func dictionary<V>(_ items: [(key: String, value: V)], _ each: (inout ByteWriter, V) -> Void) {
        u32(UInt32(items.count))
        for (k, v) in items { string(k); each(&self, v) }
    }

    mutating func u128(_ v: UInt128) { u64(UInt64(truncatingIfNeeded: v >> 64)); u64(UInt64(truncatingIfNeeded: v)) }

    /// A box as the fields it narrows: two bytes with the family (bit 15) and one bit per field
    /// that does not span its whole domain, the masks of its masked fields, then those fields'
    /// ranges, IPv4 addresses and the other fields in 32 bits (most boxes narrow three or four
    /// fields: ~40 bytes, not 150).
    mutating func box(_ b: Box) {
        var mask: UInt16 = b.v6 ? 0x8000 : 0
        for k in 0..<KeyField.dims where b.r[k] != 0...KeyField.top(dim: k, v6: b.v6) { mask |= 1 << UInt16(k) }
        u16(mask)
        u64(b.masks)
        for k in 0..<KeyField.dims where mask & (1 << UInt16(k)) != 0 {
            if k < 2 && b.v6 || k == KeyField.interfaceDim {
                u128(b.r[k].lowerBound); u128(b.r[k].upperBound)
            } else {
                u32(UInt32(b.r[k].lowerBound)); u32(UInt32(b.r[k].upperBound))
            }
        }
    }

    mutating func shape(_ s: MergeShape) {
        u8(s.v6 ? 1 : 0)
        list(s.residual) { $0.expressions($1) }
        list(s.keys) { w, k in
            w.u8(UInt8(k.field.rawValue)); w.u8(k.mask == nil ? 0 : 1); w.data(k.mask ?? []); w.u16(k.prefixBits)
        }
        expressions(s.tail)
        u8(s.limiter ? 1 : 0)
        if let bits = s.hostBits { u8(1); list(bits) { $0.u32(UInt32($1)) } } else { u8(0) }
    }

    mutating func limit(_ l: NftLimit) {
        u64(l.rate); u64(l.unit.rawValue); u32(l.burst); u32(l.kind.rawValue); u8(l.over ? 1 : 0)
    }

    mutating func object(_ o: NftObject) {
        switch o {
        case .counter(let name): u8(0); string(name)
        case .limit(let name, let l): u8(1); string(name); limit(l)
        }
    }

    mutating func dataType(_ t: NftDataType) { u32(t.id); u32(t.length); string(t.name) }

    mutating func set(_ s: NftSet) {
        string(s.name); u32(s.flags.rawValue)
        list(s.keyFields) { $0.dataType($1) }
        list(s.elements) { w, e in
            w.data(e.key)
            if let end = e.keyEnd { w.u8(1); w.data(end) } else { w.u8(0) }
        }
    }

    mutating func register(_ r: NftRegister) { u32(r.rawValue) }

    mutating func verdict(_ v: NftVerdict) {
        switch v {
        case .accept: u8(0)
        case .drop: u8(1)
        case .continue: u8(2)
        case .return: u8(3)
        case .jump(let c): u8(4); string(c)
        case .goto(let c): u8(5); string(c)
        }
    }

    mutating func expressions(_ es: [NftExpression]) {
        list(es) { $0.expression($1) }
    }

    mutating func expression(_ e: NftExpression) {
        switch e {
        case .meta(let k, let d): u8(0); u32(k.rawValue); register(d)
        case .ct(let k, let d): u8(18); u32(k.rawValue); register(d)
        case .metaSet(let k, let s): u8(1); u32(k.rawValue); register(s)
        case .payload(let b, let o, let l, let d): u8(2); u32(b.rawValue); u32(o); u32(l); register(d)
        case .payloadSet(let b, let o, let l, let s, let ct, let co):
            u8(3); u32(b.rawValue); u32(o); u32(l); register(s); u32(ct); u32(co)
        case .exthdr(let x, let d): u8(4); u8(x.type); u32(x.offset); u32(x.length); u8(x.presence ? 1 : 0); register(d)
        case .cmp(let op, let s, let data): u8(5); u32(op.rawValue); register(s); self.data(data)
        case .bitwise(let s, let d, let l, let m, let x): u8(6); register(s); register(d); u32(l); data(m); data(x)
        case .range(let op, let s, let from, let to): u8(7); u32(op.rawValue); register(s); data(from); data(to)
        case .lookup(let set, let s, let inv): u8(8); string(set); register(s); u8(inv ? 1 : 0)
        case .mapLookup(let set, let s, let d): u8(9); string(set); register(s); register(d)
        case .objrefMap(let set, let s): u8(10); string(set); register(s)
        case .objref(let t, let name): u8(11); u32(t.rawValue); string(name)
        case .counter(let p, let b): u8(12); u64(p); u64(b)
        case .limit(let l): u8(13); limit(l)
        case .log(let g, let prefix): u8(14); u32(UInt32(g)); optionalString(prefix)
        case .immediateVerdict(let v): u8(15); verdict(v)
        case .immediateData(let d, let bytes): u8(16); register(d); data(bytes)
        case .unknown(let name): u8(17); string(name)
        }
    }
}

extension ByteReader {
    mutating func optionalString() -> String?? {
        guard let has = u8() else { return nil }
        if has == 0 { return .some(nil) }
        return string().map { .some($0) }
    }

    mutating func list<T>(_ each: (inout ByteReader) -> T?) -> [T]? {
        guard let n = count() else { return nil }
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { guard let v = each(&self) else { return nil }; out.append(v) }
        return out
    }

    mutating func dictionary<V>(_ each: (inout ByteReader) -> V?) -> [String: V]? {
        guard let n = count() else { return nil }
        var out: [String: V] = [:]
        for _ in 0..<n {
            guard let k = string(), let v = each(&self) else { return nil }
            out[k] = v
        }
        return out
    }

    mutating func u128() -> UInt128? {
        guard let hi = u64(), let lo = u64() else { return nil }
        return UInt128(hi) << 64 | UInt128(lo)
    }

    mutating func box() -> Box? {
        guard let mask = u16(), let masks = u64() else { return nil }
        let v6 = mask & 0x8000 != 0
        var b = Box.full(v6: v6)
        b.masks = masks
        for k in 0..<KeyField.dims where mask & (1 << UInt16(k)) != 0 {
            if k < 2 && v6 || k == KeyField.interfaceDim {
                guard let lo = u128(), let hi = u128(), lo <= hi else { return nil }
                b.r[k] = lo...hi
            } else {
                guard let lo = u32(), let hi = u32(), lo <= hi else { return nil }
                b.r[k] = UInt128(lo)...UInt128(hi)
            }
        }
        return b
    }

    mutating func shape() -> MergeShape? {
        guard let v6 = u8(), let residual = list({ $0.expressions() }),
              let keys = list({ r -> KeyField? in
                  guard let raw = r.u8(), let field = PacketField(rawValue: Int(raw)), let masked = r.u8(),
                        let mask = r.data(), let prefixBits = r.u16() else { return nil }
                  guard prefixBits != 0 else { return KeyField(field, mask: masked == 1 ? mask : nil) }
                  // An offset prefix's key part: rebuilt from its offset and length alone.
                  guard field == .source6 || field == .destination6,
                        let p = FlowPrefix(address: .zero(.ipv6), length: Int(prefixBits & 0xff), offset: Int(prefixBits >> 8)),
                        p.offset > 0, let load = PrefixLoad(p, source: field == .source6) else { return nil }
                  return KeyField(offsetPrefix: p, source: field == .source6, load: load)
              }),
              let tail = expressions(), let limiter = u8(), let hasBits = u8() else { return nil }
        var bits: [Int]?
        if hasBits == 1 { guard let b = list({ $0.u32().map(Int.init) }) else { return nil }; bits = b }
        return MergeShape(v6: v6 == 1, residual: residual, keys: keys, tail: tail, limiter: limiter == 1, hostBits: bits)
    }

    mutating func limit() -> NftLimit? {
        guard let rate = u64(), let unit = u64().flatMap(NftLimit.Unit.init(rawValue:)), let burst = u32(),
              let kind = u32().flatMap(NftLimit.Kind.init(rawValue:)), let over = u8() else { return nil }
        return NftLimit(rate: rate, unit: unit, burst: burst, kind: kind, over: over == 1)
    }

    mutating func object() -> NftObject? {
        guard let tag = u8(), let name = string() else { return nil }
        if tag == 0 { return .counter(name: name) }
        return limit().map { .limit(name: name, $0) }
    }

    mutating func dataType() -> NftDataType? {
        guard let id = u32(), let length = u32(), let name = string() else { return nil }
        return NftDataType(id: id, length: length, name: name)
    }

    mutating func set() -> NftSet? {
        guard let name = string(), let flags = u32(), let keys = list({ $0.dataType() }),
              let elements = list({ r -> NftSetElement? in
                  guard let key = r.data(), let hasEnd = r.u8() else { return nil }
                  if hasEnd == 0 { return NftSetElement(key: key) }
                  return r.data().map { NftSetElement(key: key, keyEnd: $0) }
              }) else { return nil }
        return NftSet(name: name, flags: NftSet.Flags(rawValue: flags), keyFields: keys, elements: elements)
    }

    mutating func register() -> NftRegister? { u32().map(NftRegister.init(rawValue:)) }

    mutating func verdict() -> NftVerdict? {
        switch u8() {
        case 0: .accept
        case 1: .drop
        case 2: .continue
        case 3: .return
        case 4: string().map { .jump($0) }
        case 5: string().map { .goto($0) }
        default: nil
        }
    }

    mutating func expressions() -> [NftExpression]? { list { $0.expression() } }

    mutating func expression() -> NftExpression? {
        guard let tag = u8() else { return nil }
        switch tag {
        case 0:
            guard let k = u32().flatMap(NftMetaKey.init(rawValue:)), let d = register() else { return nil }
            return .meta(key: k, dreg: d)
        case 1:
            guard let k = u32().flatMap(NftMetaKey.init(rawValue:)), let s = register() else { return nil }
            return .metaSet(key: k, sreg: s)
        case 2:
            guard let b = u32().flatMap(NftPayloadBase.init(rawValue:)), let o = u32(), let l = u32(), let d = register() else { return nil }
            return .payload(base: b, offset: o, length: l, dreg: d)
        case 3:
            guard let b = u32().flatMap(NftPayloadBase.init(rawValue:)), let o = u32(), let l = u32(), let s = register(),
                  let ct = u32(), let co = u32() else { return nil }
            return .payloadSet(base: b, offset: o, length: l, sreg: s, checksumType: ct, checksumOffset: co)
        case 4:
            guard let t = u8(), let o = u32(), let l = u32(), let p = u8(), let d = register() else { return nil }
            return .exthdr(NftExthdr(type: t, offset: o, length: l, presence: p == 1), dreg: d)
        case 5:
            guard let op = u32().flatMap(NftCmpOp.init(rawValue:)), let s = register(), let d = data() else { return nil }
            return .cmp(op: op, sreg: s, data: d)
        case 6:
            guard let s = register(), let d = register(), let l = u32(), let m = data(), let x = data() else { return nil }
            return .bitwise(sreg: s, dreg: d, length: l, mask: m, xor: x)
        case 7:
            guard let op = u32().flatMap(NftRangeOp.init(rawValue:)), let s = register(), let f = data(), let t = data() else { return nil }
            return .range(op: op, sreg: s, from: f, to: t)
        case 8:
            guard let set = string(), let s = register(), let inv = u8() else { return nil }
            return .lookup(set: set, sreg: s, invert: inv == 1)
        case 9:
            guard let set = string(), let s = register(), let d = register() else { return nil }
            return .mapLookup(set: set, sreg: s, dreg: d)
        case 10:
            guard let set = string(), let s = register() else { return nil }
            return .objrefMap(set: set, sreg: s)
        case 11:
            guard let t = u32().flatMap(NftObjectType.init(rawValue:)), let name = string() else { return nil }
            return .objref(type: t, name: name)
        case 12:
            guard let p = u64(), let b = u64() else { return nil }
            return .counter(packets: p, bytes: b)
        case 13: return limit().map { .limit($0) }
        case 14:
            guard let g = u32(), g <= UInt32(UInt16.max), let prefix = optionalString() else { return nil }
            return .log(group: UInt16(g), prefix: prefix)
        case 15: return verdict().map { .immediateVerdict($0) }
        case 16:
            guard let d = register(), let bytes = data() else { return nil }
            return .immediateData(dreg: d, data: bytes)
        case 17: return string().map { .unknown(name: $0) }
        case 18:
            guard let k = u32().flatMap(NftCtKey.init(rawValue:)), let d = register() else { return nil }
            return .ct(key: k, dreg: d)
        default: return nil
        }
    }
}
