import FlowSpecCompiler
import Glibc

/// Where a `TableKeeper` keeps what it installed between processes (one-shot `apply` runs): the
/// table's state (rule handles, set elements), and for a merged table the snapshot of its
/// `IncrementalTable` with a journal of the updates made since. One set of files per network
/// namespace (by the inode of /proc/self/ns/net) and table.
///
/// Best effort: a file that cannot be read or written only costs the next run a full replace.
/// Files are created 0600 under a 0700 directory, written to a new temporary file and renamed
/// over the old one, and never opened through a symbolic link (O_NOFOLLOW): a link planted in
/// the directory is not followed, as root, to a file elsewhere.
public struct StateStore: Sendable {
    /// The state file; the snapshot and journal sit next to it.
    public let path: String
    /// Reads what the previous run left and never writes or removes anything (`check`).
    public let readOnly: Bool

    public init(directory: String, table: String, readOnly: Bool = false) {
        path = "\(directory)/\(Self.namespaceID("/proc/self/ns/net") ?? "unknown")-\(table).state"
        self.readOnly = readOnly
    }

    /// `DEV-INODE` of the network namespace file at `path`.
    static func namespaceID(_ path: String) -> String? {
        var st = stat()
        return stat(path, &st) == 0 ? "\(st.st_dev)-\(st.st_ino)" : nil
    }

    /// Removes the files of namespaces that no longer exist: no process is in them and no
    /// `ip netns` name holds them. Their state can never be used again (with a reused inode, the
    /// table's stamp tells it apart anyway); this keeps the directory from growing with every
    /// short-lived namespace. A namespace held only by an open descriptor looks dead here: its
    /// files go, which costs its next apply a full replace, nothing more.
    func pruneDeadNamespaces() {
        if readOnly { return }
        var alive = Set<String>()
        for dir in ["/proc", "/run/netns"] {
            guard let d = opendir(dir) else { continue }
            defer { closedir(d) }
            while let entry = readdir(d) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if dir == "/proc" {
                    guard name.first?.isNumber == true, let id = Self.namespaceID("/proc/\(name)/ns/net") else { continue }
                    alive.insert(id)
                } else if name != "." && name != "..", let id = Self.namespaceID("/run/netns/\(name)") {
                    alive.insert(id)
                }
            }
        }
        guard !alive.isEmpty, let d = opendir(directory) else { return }
        var dead: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let parts = name.split(separator: "-", maxSplits: 2)
            guard parts.count == 3, parts[0].allSatisfy(\.isNumber), parts[1].allSatisfy(\.isNumber), name.contains(".state"),
                  !alive.contains("\(parts[0])-\(parts[1])") else { continue }
            dead.append(name)
        }
        closedir(d)
        for name in dead { unlink("\(directory)/\(name)") }
    }

    var snapshotPath: String { path + ".incremental" }
    var journalPath: String { path + ".journal" }
    var directory: String { String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }

    /// The state saved in this namespace, if any.
    func loadState() -> TableState? {
        Self.bytes(atPath: path).flatMap { TableState(serialized: $0) }
    }

    /// The `IncrementalTable` snapshot the state was saved with, if any.
    func loadSnapshot() -> [UInt8]? { Self.bytes(atPath: snapshotPath) }

    /// The journal of updates made since the snapshot (`IncrementalTable.replay`).
    func loadJournal() -> [UInt8] { Self.bytes(atPath: journalPath) ?? [] }

    /// Saves the state and, when given, one more journal record. The state goes last: a state
    /// is only ever found next to the snapshot and journal of the table it describes, or none.
    func save(_ state: TableState, journal record: [UInt8]? = nil) {
        guard !readOnly, makeDirectory() else { return }
        if let record {
            let fd = open(journalPath, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            let written = Self.write(fd, record)
            close(fd)
            guard written else { return }
        }
        _ = Self.replace(path, with: state.serialized())
    }

    /// Writes `snapshot` as the table's snapshot, with an empty journal (no state: `save` comes
    /// after). False when it could not be written.
    func saveSnapshot(_ snapshot: [UInt8]) -> Bool {
        guard !readOnly, makeDirectory() else { return false }
        unlink(journalPath)
        return Self.replace(snapshotPath, with: snapshot)
    }

    /// Removes the state, so that no run trusts the snapshot and journal until it is saved again.
    func removeState() { if !readOnly { unlink(path) } }

    /// Removes the state, the snapshot and the journal.
    func remove() {
        if readOnly { return }
        removeState()
        unlink(journalPath)
        unlink(snapshotPath)
    }

    /// Creates the directory (0700) if absent; false when it exists as anything but a directory
    /// (a symbolic link included) or cannot be made.
    private func makeDirectory() -> Bool {
        var parts: [String] = []
        for part in directory.split(separator: "/", omittingEmptySubsequences: true) {
            parts.append(String(part))
            let prefix = "/" + parts.joined(separator: "/")
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { return false }
        }
        var st = stat()
        return lstat(directory.isEmpty ? "/" : directory, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// A file's bytes (not through a symbolic link), read straight into the array.
    static func bytes(atPath path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let size = Int(info.st_size)
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            while count < size {
                let n = read(fd, buffer.baseAddress! + count, size - count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failed = n < 0; break }
                count += n
            }
        }
        return failed || bytes.count != size ? nil : bytes
    }

    /// Writes `bytes` to a new file next to `path` (created exclusively, 0600) and renames it
    /// over `path`: readers see the old file or the new one, and a link at `path` is replaced,
    /// not followed.
    static func replace(_ path: String, with bytes: [UInt8]) -> Bool {
        let temporary = "\(path).\(getpid()).new"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        let written = write(fd, bytes)
        close(fd)
        guard written, rename(temporary, path) == 0 else { unlink(temporary); return false }
        return true
    }

    private static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
    }
}
