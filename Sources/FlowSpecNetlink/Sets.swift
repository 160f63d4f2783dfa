import CNftnl
import FlowSpecCompiler
import Glibc

/// Sets and their elements, encode and decode side by side.
///
/// Intervals: a concatenated interval set (pipapo, NFT_SET_INTERVAL | NFT_SET_CONCAT) takes
/// each element as KEY plus inclusive KEY_END. A single-field interval set (rbtree) does not
/// accept KEY_END: each interval becomes a start element plus an end element flagged
/// NFT_SET_ELEM_INTERVAL_END holding `keyEnd + 1` (omitted when keyEnd is the largest value),
/// the form nft itself sends. Reading back undoes this, so an rbtree element whose end equals
/// its start reads back with `keyEnd == nil`.
///
/// Counters and comments, as nft 1.0.6 sends them (`nft --debug=mnl`): a set declared with
/// `counter` carries one counter without values in NFTA_SET_EXPR, and the kernel copies it onto
/// every element that brings none (so elements need not repeat it); an element with its own
/// `counter packets P bytes B` carries it in NFTA_SET_ELEM_EXPR; an element's `comment` is its
/// userdata (NFTA_SET_ELEM_USERDATA), one NFTNL_UDATA_SET_ELEM_COMMENT TLV. rbtree end markers
/// carry neither. The kernel lists each element with its counter's current values.
enum SetCodec {
    /// nft's concatenated type id: 6 bits per field, first field highest (nft's TYPE_BITS).
    static func keyType(_ set: NftSet) -> UInt32 {
        set.keyFields.reduce(0) { ($0 << 6) | $1.id }
    }

    /// Interval sets over more than one field need NFT_SET_CONCAT for the kernel to take
    /// KEY_END; it is added here so the compiler need not know that kernel detail.
    static func kernelFlags(_ set: NftSet) -> UInt32 {
        var flags = set.flags
        if set.keyFields.count > 1 && flags.contains(.interval) { flags.insert(.concat) }
        return flags.rawValue
    }

    static func usesKeyEnd(_ set: NftSet) -> Bool {
        set.flags.contains(.interval) && set.keyFields.count > 1
    }

    static func usesEndElements(_ set: NftSet) -> Bool {
        set.flags.contains(.interval) && set.keyFields.count == 1
    }

    static func encodeSet(_ set: NftSet, index: Int, encoder: TableEncoder) throws(NetlinkError) {
        guard let s = nftnl_set_alloc() else { throw .system(call: "nftnl_set_alloc", errno: ENOMEM) }
        defer { nftnl_set_free(s) }
        fillIdentity(s, set: set, table: encoder.table)
        nftnl_set_set_u32(s, id(NFTNL_SET_ID), UInt32(index + 1))
        nftnl_set_set_u32(s, id(NFTNL_SET_FLAGS), kernelFlags(set))
        nftnl_set_set_u32(s, id(NFTNL_SET_KEY_TYPE), keyType(set))
        nftnl_set_set_u32(s, id(NFTNL_SET_KEY_LEN), set.keyLength)
        // Field lengths go with interval concatenations only (the kernel's pipapo sets); a hash
        // set with a concatenated key takes none (with them and no NFT_SET_CONCAT: EINVAL).
        if set.keyFields.count > 1 && set.flags.contains(.interval) {
            var lengths = set.keyFields.map { UInt8(truncatingIfNeeded: $0.length) }
            _ = nftnl_set_set_data(s, id(NFTNL_SET_DESC_CONCAT), &lengths, UInt32(lengths.count))
        }
        if let data = set.dataType {
            if data.id == NftDataType.verdict.id {
                nftnl_set_set_u32(s, id(NFTNL_SET_DATA_TYPE), flowspec_nft_data_verdict())
            } else {
                nftnl_set_set_u32(s, id(NFTNL_SET_DATA_TYPE), data.id)
                nftnl_set_set_u32(s, id(NFTNL_SET_DATA_LEN), data.length)
            }
        }
        if let objectType = set.objectType {
            nftnl_set_set_u32(s, id(NFTNL_SET_OBJ_TYPE), objectType.rawValue)
        }
        if set.elementCounters {
            guard let counter = nftnl_expr_alloc(CounterExpr.name) else {
                throw .system(call: "nftnl_expr_alloc", errno: ENOMEM)
            }
            nftnl_set_add_expr(s, counter)   // owned (and freed) by the set from here on
        }
        // The key byte order, as nft records it (NFTNL_UDATA_SET_KEYBYTEORDER, a host-order u32):
        // without it nft 1.0.6 misreads (and for some types crashes on) the elements it lists.
        // A key declared by `typeof`: nft writes BYTEORDER_INVALID (0) for a concatenation.
        let order = set.keyFields.count == 1 ? set.keyFields[0].byteOrder : set.typeof == nil ? 2 : 0
        var udata = SetUserdata.encode(byteOrder: order, typeof: set.typeof)
        _ = nftnl_set_set_data(s, id(NFTNL_SET_USERDATA), &udata, UInt32(udata.count))
        let nlh = encoder.batch.begin(NFT_MSG_NEWSET, family: encoder.family, flags: NLM_F_CREATE,
                                      origin: .set(index), estimate: 1024 + set.name.utf8.count + encoder.table.name.utf8.count)
        nftnl_set_nlmsg_build_payload(nlh, s)
        encoder.batch.finish(nlh)
    }

    private static func fillIdentity(_ s: OpaquePointer, set: NftSet, table: NftTable) {
        nftnl_set_set_str(s, id(NFTNL_SET_TABLE), table.name)
        nftnl_set_set_str(s, id(NFTNL_SET_NAME), set.name)
        nftnl_set_set_u32(s, id(NFTNL_SET_FAMILY), UInt32(table.family.rawValue))
    }

    /// One kernel element: the IR element it came from, and whether it is an rbtree end marker.
    struct KernelElement {
        var source: Int
        var key: [UInt8]
        var isEnd: Bool
    }

    /// The kernel elements for IR elements `range` (the same expansion serves encoding and
    /// mapping an error's element position back to the IR element).
    static func kernelElements(_ set: NftSet, _ range: Range<Int>) -> [KernelElement] {
        var out: [KernelElement] = []
        out.reserveCapacity(range.count * 2)
        for i in range {
            let element = set.elements[i]
            out.append(KernelElement(source: i, key: element.key, isEnd: false))
            if usesEndElements(set), let next = successor(element.keyEnd ?? element.key) {
                out.append(KernelElement(source: i, key: next, isEnd: true))
            }
        }
        return out
    }

    /// The elements, in messages of at most ~48 KiB (an element list is one nested attribute,
    /// whose length field is 16 bits).
    /// `delete` sends DELSETELEM; `partial` says `set.elements` are not the table's own (a
    /// delta's additions or deletions), so errors name the set, not element positions.
    static func encodeElements(_ set: NftSet, index: Int, encoder: TableEncoder, delete: Bool = false,
                               partial: Bool = false) throws(NetlinkError) {
        // Checked before anything is built, so a bad element is named and nothing is sent. Both are
        // what nft 1.0.6 refuses in its input, so the table could not be printed as loadable text.
        if !delete {
            for (i, element) in set.elements.enumerated() {
                if let comment = element.comment, comment.utf8.count > NftSetElement.maxCommentBytes {
                    throw .unencodable(object: .setElements(set: set.name, elements: i..<(i + 1), element: i),
                                       reason: "comment longer than \(NftSetElement.maxCommentBytes) bytes (nft's limit)")
                }
                if UserdataComment.size(element.comment, element.routeComment) > UserdataComment.maxBytes {
                    throw .unencodable(object: .setElements(set: set.name, elements: i..<(i + 1), element: i),
                                       reason: "comment and route comment longer than the kernel's \(UserdataComment.maxBytes) bytes of userdata")
                }
                if element.counter != nil && !set.elementCounters {
                    throw .unencodable(object: .setElements(set: set.name, elements: i..<(i + 1), element: i),
                                       reason: "an element counter in a set declared without `counter`")
                }
            }
        }
        var start = 0
        while start < set.elements.count {
            var end = start, bytes = 0
            while end < set.elements.count && bytes < 48 * 1024 {
                bytes += elementEstimate(set.elements[end])
                end += 1
            }
            try encodeChunk(set, index: index, range: start..<end, encoder: encoder, estimate: bytes, delete: delete,
                            partial: partial)
            start = end
        }
    }

    private static func elementEstimate(_ e: NftSetElement) -> Int {
        2 * (96 + e.key.count + (e.keyEnd?.count ?? e.key.count) + (e.objectName?.utf8.count ?? 0)
             + (e.verdict?.chain?.utf8.count ?? 0) + (e.comment.map { $0.utf8.count + 12 } ?? 0)
             + (e.counter == nil ? 0 : 80))
    }

    private static func encodeChunk(_ set: NftSet, index: Int, range: Range<Int>, encoder: TableEncoder,
                                    estimate: Int, delete: Bool, partial: Bool) throws(NetlinkError) {
        guard let s = nftnl_set_alloc() else { throw .system(call: "nftnl_set_alloc", errno: ENOMEM) }
        defer { nftnl_set_free(s) }
        fillIdentity(s, set: set, table: encoder.table)
        for kernelElement in kernelElements(set, range) {
            guard let e = nftnl_set_elem_alloc() else { throw .system(call: "nftnl_set_elem_alloc", errno: ENOMEM) }
            let element = set.elements[kernelElement.source]
            setBytes(e, NFTNL_SET_ELEM_KEY, kernelElement.key)
            if kernelElement.isEnd {
                nftnl_set_elem_set_u32(e, id(NFTNL_SET_ELEM_FLAGS), NFT_SET_ELEM_INTERVAL_END.rawValue)
            } else {
                if usesKeyEnd(set), let keyEnd = element.keyEnd { setBytes(e, NFTNL_SET_ELEM_KEY_END, keyEnd) }
                if let verdict = element.verdict {
                    nftnl_set_elem_set_u32(e, id(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: verdict.code))
                    if let chain = verdict.chain { _ = nftnl_set_elem_set_str(e, id(NFTNL_SET_ELEM_CHAIN), chain) }
                }
                if let objectName = element.objectName {
                    _ = nftnl_set_elem_set_str(e, id(NFTNL_SET_ELEM_OBJREF), objectName)
                }
                if element.comment != nil || element.routeComment != nil {
                    UserdataComment.withTLVs(element.comment, routeComment: element.routeComment,
                                             type: NFTNL_UDATA_SET_ELEM_COMMENT.rawValue) { tlv in
                        _ = nftnl_set_elem_set(e, id(NFTNL_SET_ELEM_USERDATA), tlv.baseAddress, UInt32(tlv.count))
                    }
                }
                if let counter = element.counter {
                    guard let raw = nftnl_expr_alloc(CounterExpr.name) else {
                        nftnl_set_elem_free(e)
                        throw .system(call: "nftnl_expr_alloc", errno: ENOMEM)
                    }
                    CounterExpr.encode(packets: counter.packets, bytes: counter.bytes, Expr(raw: raw))
                    nftnl_set_elem_add_expr(e, raw)   // owned by the element
                }
            }
            nftnl_set_elem_add(s, e)
        }
        let nlh = encoder.batch.begin(delete ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, family: encoder.family,
                                      flags: delete ? 0 : NLM_F_CREATE,
                                      origin: delete || partial ? .set(index) : .elements(set: index, range: range),
                                      estimate: estimate + 1024)
        nftnl_set_elems_nlmsg_build_payload(nlh, s)
        encoder.batch.finish(nlh)
    }

    private static func setBytes(_ e: OpaquePointer, _ attr: Int, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = nftnl_set_elem_set(e, id(attr), $0.baseAddress, UInt32($0.count)) }
    }

    /// `value + 1` in big-endian bytes; nil when it overflows (the interval runs to the top).
    static func successor(_ value: [UInt8]) -> [UInt8]? {
        var out = value
        for i in out.indices.reversed() {
            if out[i] == 0xff { out[i] = 0 } else { out[i] += 1; return out }
        }
        return nil
    }

    static func predecessor(_ value: [UInt8]) -> [UInt8] {
        var out = value
        for i in out.indices.reversed() {
            if out[i] == 0 { out[i] = 0xff } else { out[i] -= 1; return out }
        }
        return out
    }

    // MARK: decode

    /// The IR set from a kernel set (without elements).
    static func decodeSet(_ s: OpaquePointer) throws(NetlinkError) -> NftSet {
        let name = nftnl_set_get_str(s, id(NFTNL_SET_NAME)).map { String(cString: $0) } ?? ""
        var flags = NftSet.Flags(rawValue: nftnl_set_get_u32(s, id(NFTNL_SET_FLAGS)))
        let keyType = nftnl_set_get_u32(s, id(NFTNL_SET_KEY_TYPE))
        let keyLength = nftnl_set_get_u32(s, id(NFTNL_SET_KEY_LEN))
        var fieldLengths: [UInt32] = [keyLength]
        var count: UInt32 = 0
        if nftnl_set_is_set(s, id(NFTNL_SET_DESC_CONCAT)),
           let raw = nftnl_set_get_data(s, id(NFTNL_SET_DESC_CONCAT), &count), count > 1 {
            fieldLengths = UnsafeRawBufferPointer(start: raw, count: Int(count)).map { UInt32($0) }
        }
        var udataLength: UInt32 = 0
        let typeof = nftnl_set_get_data(s, id(NFTNL_SET_USERDATA), &udataLength).flatMap { raw in
            SetUserdata.typeof(Array(UnsafeRawBufferPointer(start: raw, count: Int(udataLength))))
        }
        // A hash set's concatenation has no field lengths: its `typeof` gives those of plain integers.
        if fieldLengths.count == 1, let typeof, typeof.count > 1 {
            var lengths: [UInt32] = []
            for (i, e) in typeof.enumerated() {
                let id = (keyType >> (6 * UInt32(typeof.count - 1 - i))) & 0x3f
                switch e {
                case .raw(_, _, let bits), .field(_, _, let bits?): lengths.append((bits + 7) / 8)
                case .field: lengths.append(knownTypes.first { $0.id == id && $0.id != NftDataType.integer.id }?.length ?? 0)
                }
            }
            if lengths.reduce(0, { $0 + ($1 + 3) / 4 * 4 }) == keyLength { fieldLengths = lengths }
        }
        let n = fieldLengths.count
        var keyFields = fieldLengths.enumerated().map { i, length in
            Self.dataType(id: (keyType >> (6 * UInt32(n - 1 - i))) & (n == 1 ? .max : 0x3f), length: length)
        }
        if n == 1, let fields = concatenatedFields(keyType: keyType, keyLength: keyLength) { keyFields = fields }
        // NFT_SET_CONCAT is the backend's (`kernelFlags`), implied by the key: the IR leaves it out.
        if keyFields.count > 1 && flags.contains(.interval) { flags.remove(.concat) }
        var dataType: NftDataType?
        if nftnl_set_is_set(s, id(NFTNL_SET_DATA_TYPE)) {
            let raw = nftnl_set_get_u32(s, id(NFTNL_SET_DATA_TYPE))
            dataType = raw == flowspec_nft_data_verdict()
                ? .verdict : Self.dataType(id: raw, length: nftnl_set_get_u32(s, id(NFTNL_SET_DATA_LEN)))
        }
        var objectType: NftObjectType?
        if nftnl_set_is_set(s, id(NFTNL_SET_OBJ_TYPE)) {
            let raw = nftnl_set_get_u32(s, id(NFTNL_SET_OBJ_TYPE))
            guard let type = NftObjectType(rawValue: raw) else {
                throw .undecodable(object: "set \(name)", reason: "object type \(raw)")
            }
            objectType = type
        }
        // A set's expressions other than a counter (a foreign set's `quota`, say) have no IR form.
        let elementCounters = expressions { nftnl_set_expr_foreach(s, $0, $1) }.contains {
            if case .counter = $0 { true } else { false }
        }
        return NftSet(name: name, flags: flags, keyFields: keyFields, dataType: dataType, objectType: objectType,
                      elementCounters: elementCounters, typeof: typeof)
    }

    /// The expressions a libnftnl `*_expr_foreach` walks, decoded (a kind the IR lacks as `.unknown`).
    private static func expressions(
        _ foreach: (@convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32, UnsafeMutableRawPointer) -> Int32
    ) -> [NftExpression] {
        var out: [NftExpression] = []
        withUnsafeMutablePointer(to: &out) { pointer in
            _ = foreach({ e, data in
                guard let e, let data else { return 0 }
                let decoded = ExpressionCodec.decode(e)
                data.assumingMemoryBound(to: [NftExpression].self).pointee.append(decoded)
                return 0
            }, pointer)
        }
        return out
    }

    /// The fields of a concatenated key that came without field lengths (a hash set: only interval
    /// concatenations carry NFTA_SET_DESC_CONCAT), from its type: 6 bits per field, each a named
    /// type of known length, the lengths padded to 4 bytes adding up to the key's. Nil when the
    /// type is a single one (below 64) or any part is unknown.
    static func concatenatedFields(keyType: UInt32, keyLength: UInt32) -> [NftDataType]? {
        guard keyType >= 64 else { return nil }
        let named = knownTypes.filter { $0.id != NftDataType.integer.id && $0.id != NftDataType.verdict.id }
        var fields: [NftDataType] = []
        var rest = keyType
        while rest > 0 {
            guard let type = named.first(where: { $0.id == rest & 0x3f }) else { return nil }
            fields.insert(type, at: 0)
            rest >>= 6
        }
        guard fields.reduce(0, { $0 + ($1.length + 3) / 4 * 4 }) == keyLength else { return nil }
        return fields
    }

    /// The types the IR names (nft's ids and lengths), so read-back keys compare equal to compiled ones.
    static let knownTypes: [NftDataType] = [
        .verdict, .ipv4Address, .ipv6Address, .inetProto, .inetService, .icmpType, .tcpFlag, .icmpv6Type, .nfproto,
        .mark, .dscp, .integer,
        .icmpCode, .icmpv6Code, .ifname,
    ]

    /// The IR type with this id and length (the named constants first, so they compare equal).
    static func dataType(id: UInt32, length: UInt32) -> NftDataType {
        if let match = knownTypes.first(where: { $0.id == id && $0.length == length }) { return match }
        if id == NftDataType.integer.id { return .integer(bytes: length) }
        return NftDataType(id: id, length: length, name: "type \(id)")
    }

    /// The IR elements of kernel set `s` (elements parsed into it), sorted by key.
    static func decodeElements(_ s: OpaquePointer, as set: NftSet) throws(NetlinkError) -> [NftSetElement] {
        guard let iterator = nftnl_set_elems_iter_create(s) else { return [] }
        defer { nftnl_set_elems_iter_destroy(iterator) }
        var raw: [(element: NftSetElement, isEnd: Bool)] = []
        while let e = nftnl_set_elems_iter_next(iterator) {
            var element = NftSetElement(key: bytes(e, NFTNL_SET_ELEM_KEY))
            if nftnl_set_elem_is_set(e, id(NFTNL_SET_ELEM_KEY_END)) { element.keyEnd = bytes(e, NFTNL_SET_ELEM_KEY_END) }
            if nftnl_set_elem_is_set(e, id(NFTNL_SET_ELEM_VERDICT)) {
                let chain = nftnl_set_elem_is_set(e, id(NFTNL_SET_ELEM_CHAIN))
                    ? nftnl_set_elem_get_str(e, id(NFTNL_SET_ELEM_CHAIN)).map { String(cString: $0) } : nil
                element.verdict = try NftVerdict(code: Int32(bitPattern: nftnl_set_elem_get_u32(e, id(NFTNL_SET_ELEM_VERDICT))),
                                                 chain: chain)
            }
            if nftnl_set_elem_is_set(e, id(NFTNL_SET_ELEM_OBJREF)) {
                element.objectName = nftnl_set_elem_get_str(e, id(NFTNL_SET_ELEM_OBJREF)).map { String(cString: $0) }
            }
            var length: UInt32 = 0
            if nftnl_set_elem_is_set(e, id(NFTNL_SET_ELEM_USERDATA)),
               let data = nftnl_set_elem_get(e, id(NFTNL_SET_ELEM_USERDATA), &length) {
                (element.comment, element.routeComment) = UserdataComment.read(NFTNL_UDATA_SET_ELEM_COMMENT.rawValue,
                                                                               in: UnsafeRawBufferPointer(start: data, count: Int(length)))
            }
            for case .counter(let packets, let bytes) in expressions({ nftnl_set_elem_expr_foreach(e, $0, $1) }) {
                element.counter = NftCounter(packets: packets, bytes: bytes)
            }
            let flags = nftnl_set_elem_is_set(e, id(NFTNL_SET_ELEM_FLAGS)) ? nftnl_set_elem_get_u32(e, id(NFTNL_SET_ELEM_FLAGS)) : 0
            raw.append((element, flags & NFT_SET_ELEM_INTERVAL_END.rawValue != 0))
        }
        // At one key, an end marker (of the interval before) sorts before a start: adjacent
        // intervals share that key.
        raw.sort { $0.element.key == $1.element.key ? $0.isEnd && !$1.isEnd : $0.element.key.lexicographicallyPrecedes($1.element.key) }
        guard usesEndElements(set) else { return raw.map(\.element) }
        // rbtree: pair each start with the end marker that follows it.
        var out: [NftSetElement] = []
        var i = 0
        while i < raw.count {
            var (element, isEnd) = raw[i]
            i += 1
            if isEnd { continue }   // a lone end marker (nft's leading 0 interval end)
            var last = [UInt8](repeating: 0xff, count: element.key.count)
            if i < raw.count, raw[i].isEnd {
                last = predecessor(raw[i].element.key)
                i += 1
            }
            element.keyEnd = last == element.key ? nil : last
            out.append(element)
        }
        return out
    }

    private static func bytes(_ e: OpaquePointer, _ attr: Int) -> [UInt8] {
        var length: UInt32 = 0
        guard let data = nftnl_set_elem_get(e, id(attr), &length) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
    }
}
