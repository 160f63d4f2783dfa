import CNftnl
import Glibc

/// What one message of a batch carries, by index into the `NftTable` being applied. Kept as
/// small integers (no strings) so recording 100k rules costs nothing; turned into a
/// `BatchObject` with names and comments only when the kernel reports an error.
enum MessageOrigin {
    case batch
    case table
    case object(Int)
    case set(Int)
    case elements(set: Int, range: Range<Int>)
    case chain(Int)
    case rule(chain: Int, index: Int)
    /// A delete of something not in the table being applied (delta: a rule by handle, a set,
    /// an object), named directly.
    case removal(BatchObject)
}

/// The batch being built: every message written straight into one contiguous buffer (what a
/// single sendmsg sends), each with its own sequence number, and a record per message of what it
/// carries and where it starts.
final class BatchBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var length = 0
    let firstSequence: UInt32
    private(set) var origins: [MessageOrigin] = []
    private(set) var offsets: [Int] = []

    init(firstSequence: UInt32, capacity: Int, expectedMessages: Int) {
        self.firstSequence = firstSequence
        self.capacity = max(capacity, 64 * 1024)
        self.base = malloc(self.capacity)!
        origins.reserveCapacity(expectedMessages)
        offsets.reserveCapacity(expectedMessages)
    }

    deinit { free(base) }

    var messageCount: Int { origins.count }
    var lastSequence: UInt32 { firstSequence &+ UInt32(truncatingIfNeeded: origins.count - 1) }

    private func reserve(_ bytes: Int) {
        guard length + bytes > capacity else { return }
        var newCapacity = capacity * 2
        while length + bytes > newCapacity { newCapacity *= 2 }
        base = realloc(base, newCapacity)!
        capacity = newCapacity
    }

    /// Starts a message of nf_tables `type` (NFT_MSG_*) with room for `estimate` bytes and
    /// returns its header; the caller fills the payload and calls `finish`.
    func begin(_ type: nf_tables_msg_types, family: UInt8, flags: Int32, origin: MessageOrigin,
               estimate: Int) -> UnsafeMutablePointer<nlmsghdr> {
        reserve(estimate)
        let seq = firstSequence &+ UInt32(truncatingIfNeeded: origins.count)
        origins.append(origin)
        offsets.append(length)
        return nftnl_nlmsg_build_hdr((base + length).assumingMemoryBound(to: CChar.self),
                                     UInt16(type.rawValue), UInt16(family), UInt16(flags), seq)
    }

    func finish(_ nlh: UnsafeMutablePointer<nlmsghdr>) {
        length += (Int(nlh.pointee.nlmsg_len) + 3) & ~3
    }

    /// Batch begin, hand-built because nftnl_batch_begin cannot carry NFNL_BATCH_GENID: with
    /// it the kernel refuses (ERESTART) a batch computed from a ruleset someone else changed.
    func beginBatch(generation: UInt32?) {
        reserve(64)
        let seq = firstSequence &+ UInt32(truncatingIfNeeded: origins.count)
        origins.append(.batch)
        offsets.append(length)
        let nlh = mnl_nlmsg_put_header(base + length)!
        nlh.pointee.nlmsg_type = UInt16(NFNL_MSG_BATCH_BEGIN)
        nlh.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST)
        nlh.pointee.nlmsg_seq = seq
        let nfg = mnl_nlmsg_put_extra_header(nlh, MemoryLayout<nfgenmsg>.size)!.assumingMemoryBound(to: nfgenmsg.self)
        nfg.pointee.nfgen_family = UInt8(AF_UNSPEC)
        nfg.pointee.version = UInt8(NFNETLINK_V0)
        nfg.pointee.res_id = flowspec_nftables_res_id()
        if let generation {
            mnl_attr_put_u32(nlh, UInt16(NFNL_BATCH_GENID.rawValue), generation.bigEndian)
        }
        finish(nlh)
    }

    /// Batch end: no ack, no sequence record needed beyond the count.
    func endBatch() {
        reserve(64)
        let seq = firstSequence &+ UInt32(truncatingIfNeeded: origins.count)
        origins.append(.batch)
        offsets.append(length)
        let nlh = nftnl_batch_end((base + length).assumingMemoryBound(to: CChar.self), seq)!
        finish(nlh)
    }

    /// Sets netlink header flags (NLM_F_ACK, NLM_F_ECHO) on the message with sequence `seq`.
    func addFlags(_ flags: Int32, seq: UInt32) {
        guard let m = message(seq: seq) else { return }
        UnsafeMutableRawPointer(mutating: m.start).assumingMemoryBound(to: nlmsghdr.self).pointee.nlmsg_flags |= UInt16(flags)
    }

    /// The record of the message with sequence number `seq`, if it is one of ours.
    func message(seq: UInt32) -> (origin: MessageOrigin, start: UnsafeRawPointer)? {
        let index = Int(seq &- firstSequence)
        guard index >= 0, index < origins.count else { return nil }
        return (origins[index], UnsafeRawPointer(base + offsets[index]))
    }
}
