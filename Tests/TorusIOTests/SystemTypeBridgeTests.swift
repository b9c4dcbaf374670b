import SystemPackage
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("swift-system types to Torus's")
    struct SystemTypeBridgeTests {
        @Test("every FileMetadata.Kind round-trips through FileType; whiteout is unknown")
        func kinds() {
            let kinds: [FileMetadata.Kind] = [.regular, .directory, .symbolicLink, .fifo, .socket, .blockDevice, .characterDevice]
            for kind in kinds {
                #expect(kind.fileType.map(FileMetadata.Kind.init) == kind)
            }
            #expect(FileMetadata.Kind.unknown.fileType == nil)
            #expect(FileMetadata.Kind(FileType(rawValue: 0o160000)) == .unknown)
        }

        @Test("access modes and open options map to File.Options; options a File cannot honour give nil")
        func options() throws {
            #expect(File.Options(.readOnly) == .read)
            #expect(File.Options(.readWrite, [.create, .truncate, .closeOnExec]) == [.read, .write, .create, .truncate])
            #expect(File.Options(.writeOnly, [.append, .exclusiveCreate, .noFollow]) == [.write, .append, .exclusive, .noFollow])
            #expect(File.Options(.readOnly, [.nonBlocking]) == nil)
            #expect(File.Options(.readOnly, [.directory]) == nil)
        }

        @Test("a file opened with converted options is written and read through the ring")
        func openWithConvertedOptions() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            let path = FilePath(directory).appending("bridged")
            let bytes = try await runtime.block {
                let options = try #require(File.Options(.readWrite, [.create, .exclusiveCreate]))
                let file = try await File.open(path, options: options)
                try await file.writeAll(IOBuffer(Array("through FileDescriptor.OpenOptions".utf8)), at: 0)
                let read = try await file.readToEnd()
                try await file.close()
                return read
            }
            #expect(String(decoding: bytes, as: UTF8.self) == "through FileDescriptor.OpenOptions")
        }
    }
}
