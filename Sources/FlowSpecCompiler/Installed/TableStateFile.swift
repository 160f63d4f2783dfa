/// A `TableState` as bytes, so that one-shot `apply` runs can hand the state of the table they
/// committed to the next run (reading 100k rules back through netlink takes seconds: the
/// kernel's rule dump restarts its walk of the chain for every 32 KiB reply).
///
/// Binary, because a merged 100k-route table's state holds 100k set elements: as text it took
/// 0.3 s to read back, as much as the kernel takes to load the whole table. Little-endian
/// fixed-width integers and length-prefixed byte strings, after a magic and a version.
///
/// The reader trusts the file only as far as the caller checks it: the state records the ruleset
/// generation right after its commit, and a delta batch carries that generation, so the kernel
/// refuses it if anything changed since.
extension TableState {
    static let magic: [UInt8] = Array("flowspec-nft-state".utf8) + [0, 4]

    public func serialized() -> [UInt8] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(4096 + routes.count * 80 + mergeElementCount * 40)
        w.bytes += Self.magic
        w.u8(family.rawValue); w.string(table); w.string(chain); w.u64(chainDigest); w.u32(generation); w.u64(stamp)
        w.u32(UInt32(sets.count))
        for s in sets.sorted() { w.string(s) }
        w.u32(UInt32(objects.count))
        for (name, o) in objects.sorted(by: { $0.key < $1.key }) { w.string(name); w.u32(o.type.rawValue); w.u64(o.digest) }
        w.u32(UInt32(routes.count))
        for r in routes {
            w.string(r.identity); w.u64(r.digest)
            w.u32(UInt32(r.handles.count))
            for h in r.handles { w.u64(h) }
        }
        w.u32(UInt32(mergeSets.count))
        for (name, set) in mergeSets.sorted(by: { $0.key < $1.key }) {
            w.string(name); w.u64(set.definition)
            w.u32(UInt32(set.elements.count))
            for e in set.elements {
                w.u64(e.digest); w.data(e.key)
                if let end = e.keyEnd { w.u8(1); w.data(end) } else { w.u8(0) }
            }
        }
        return w.bytes
    }

    /// Nil for bytes that are not a complete state of this version.
    public init?(serialized bytes: [UInt8]) {
        var r = ByteReader(bytes: bytes)
        guard r.take(Self.magic.count) == Self.magic[...],
              let familyRaw = r.u8(), let family = NftFamily(rawValue: familyRaw),
              let table = r.string(), let chain = r.string(), let chainDigest = r.u64(), let generation = r.u32(),
              let stamp = r.u64(), let setCount = r.count() else { return nil }
        var sets: Set<String> = []
        for _ in 0..<setCount { guard let s = r.string() else { return nil }; sets.insert(s) }
        guard let objectCount = r.count() else { return nil }
        var objects: [String: ObjectEntry] = [:]
        for _ in 0..<objectCount {
            guard let name = r.string(), let t = r.u32().flatMap(NftObjectType.init(rawValue:)), let d = r.u64() else { return nil }
            objects[name] = ObjectEntry(type: t, digest: d)
        }
        guard let routeCount = r.count() else { return nil }
        var routes: [Route] = []
        routes.reserveCapacity(routeCount)
        for _ in 0..<routeCount {
            guard let identity = r.string(), let digest = r.u64(), let n = r.count() else { return nil }
            var handles: [UInt64] = []
            handles.reserveCapacity(n)
            for _ in 0..<n { guard let h = r.u64() else { return nil }; handles.append(h) }
            routes.append(Route(identity: identity, digest: digest, handles: handles))
        }
        guard let mergeCount = r.count() else { return nil }
        var mergeSets: [String: MergeSet] = [:]
        for _ in 0..<mergeCount {
            guard let name = r.string(), let definition = r.u64(), let n = r.count() else { return nil }
            var elements: [Element] = []
            elements.reserveCapacity(n)
            for _ in 0..<n {
                guard let digest = r.u64(), let key = r.data(), let hasEnd = r.u8() else { return nil }
                var keyEnd: [UInt8]?
                if hasEnd == 1 { guard let end = r.data() else { return nil }; keyEnd = end }
                elements.append(Element(key: key, keyEnd: keyEnd, digest: digest))
            }
            mergeSets[name] = MergeSet(definition: definition, elements: elements)
        }
        guard r.atEnd else { return nil }
        self.init(table: table, family: family, chain: chain, chainDigest: chainDigest, routes: routes,
                  sets: sets, objects: objects, mergeSets: mergeSets, generation: generation)
        self.stamp = stamp
    }
}
