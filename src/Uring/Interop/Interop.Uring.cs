using System.Runtime.InteropServices;

namespace Perf.Uring;

/// <summary>
/// io_uring through syscall(2): glibc has no wrappers. Numbers are the asm-generic ones, shared by x86-64 and arm64.
/// syscall is variadic; integer arguments travel in the same registers as a fixed signature on both ABIs.
/// </summary>
internal static unsafe partial class Interop
{
    internal static partial class Uring
    {
        internal const long SYS_io_uring_setup = 425;
        internal const long SYS_io_uring_enter = 426;
        internal const long SYS_io_uring_register = 427;

        // io_uring_setup flags
        internal const uint IORING_SETUP_SQPOLL = 1u << 1;
        internal const uint IORING_SETUP_CQSIZE = 1u << 3;
        internal const uint IORING_SETUP_CLAMP = 1u << 4;
        internal const uint IORING_SETUP_SUBMIT_ALL = 1u << 7;
        internal const uint IORING_SETUP_COOP_TASKRUN = 1u << 8;
        internal const uint IORING_SETUP_SINGLE_ISSUER = 1u << 12;
        internal const uint IORING_SETUP_DEFER_TASKRUN = 1u << 13;

        // features
        internal const uint IORING_FEAT_SINGLE_MMAP = 1u << 0;

        // mmap offsets
        internal const long IORING_OFF_SQ_RING = 0;
        internal const long IORING_OFF_SQES = 0x10000000;

        // io_uring_enter flags
        internal const uint IORING_ENTER_GETEVENTS = 1u << 0;
        internal const uint IORING_ENTER_SQ_WAKEUP = 1u << 1;
        internal const uint IORING_ENTER_REGISTERED_RING = 1u << 4; // Linux 5.18+: the fd argument is a registered ring index

        // sq ring flags
        internal const uint IORING_SQ_NEED_WAKEUP = 1u << 0;
        internal const uint IORING_SQ_CQ_OVERFLOW = 1u << 1;

        // sqe flags
        internal const byte IOSQE_FIXED_FILE = 1 << 0;
        internal const byte IOSQE_IO_LINK = 1 << 2;

        // cqe flags
        internal const uint IORING_CQE_F_MORE = 1u << 1;
        internal const uint IORING_CQE_F_NOTIF = 1u << 3;

        // opcodes (enum io_uring_op)
        internal const byte IORING_OP_SENDMSG = 9;
        internal const byte IORING_OP_SENDMSG_ZC = 48;

        // io_uring_register opcodes
        internal const uint IORING_REGISTER_FILES = 2;
        internal const uint IORING_REGISTER_PROBE = 8;
        internal const uint IORING_REGISTER_RING_FDS = 20; // Linux 5.18+; per task: valid on the registering thread only
        internal const uint IORING_UNREGISTER_RING_FDS = 21;
        internal const ushort IO_URING_OP_SUPPORTED = 1;

        [LibraryImport(Batch.Interop.Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

        internal static int Setup(uint entries, IoUringParams* p) =>
            (int)Syscall(SYS_io_uring_setup, entries, (long)p, 0, 0, 0, 0);

        internal static int Enter(int fd, uint toSubmit, uint minComplete, uint flags) =>
            (int)Syscall(SYS_io_uring_enter, fd, toSubmit, minComplete, flags, 0, 0);

        internal static int Register(int fd, uint opcode, void* arg, uint nrArgs) =>
            (int)Syscall(SYS_io_uring_register, fd, opcode, (long)arg, nrArgs, 0, 0);

        /// <summary>SIOCOUTQ (= TIOCOUTQ): for a UDP socket, the send-buffer memory it has charged (sk_wmem_alloc).</summary>
        internal const uint SIOCOUTQ = 0x5411;

        [LibraryImport(Batch.Interop.Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int Ioctl(int fd, nuint request, int* value);
    }

    /// <summary>struct io_uring_rsrc_update: 16 bytes; IORING_REGISTER_RING_FDS takes one with offset -1 (any free slot).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringRsrcUpdate
    {
        public uint Offset;
        public uint Resv;
        public ulong Data;
    }

    /// <summary>struct io_sqring_offsets: 40 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SqRingOffsets
    {
        public uint Head;
        public uint Tail;
        public uint RingMask;
        public uint RingEntries;
        public uint Flags;
        public uint Dropped;
        public uint Array;
        public uint Resv1;
        public ulong UserAddr;
    }

    /// <summary>struct io_cqring_offsets: 40 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CqRingOffsets
    {
        public uint Head;
        public uint Tail;
        public uint RingMask;
        public uint RingEntries;
        public uint Overflow;
        public uint Cqes;
        public uint Flags;
        public uint Resv1;
        public ulong UserAddr;
    }

    /// <summary>struct io_uring_params: 120 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringParams
    {
        public uint SqEntries;
        public uint CqEntries;
        public uint Flags;
        public uint SqThreadCpu;
        public uint SqThreadIdle;
        public uint Features;
        public uint WqFd;
        public uint Resv0;
        public uint Resv1;
        public uint Resv2;
        public SqRingOffsets SqOff;
        public CqRingOffsets CqOff;
    }

    /// <summary>struct io_uring_sqe: 64 bytes; unions flattened to the members a SENDMSG uses.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    internal struct IoUringSqe
    {
        [FieldOffset(0)] public byte Opcode;
        [FieldOffset(1)] public byte Flags;
        [FieldOffset(2)] public ushort IoPrio;
        [FieldOffset(4)] public int Fd;
        [FieldOffset(8)] public ulong Off;
        [FieldOffset(16)] public ulong Addr;
        [FieldOffset(24)] public uint Len;
        [FieldOffset(28)] public uint MsgFlags;
        [FieldOffset(32)] public ulong UserData;
        [FieldOffset(40)] public ushort BufIndex;
        [FieldOffset(42)] public ushort Personality;
        [FieldOffset(44)] public int FileIndex;
        [FieldOffset(48)] public ulong Addr3;
        [FieldOffset(56)] public ulong Pad2;
    }

    /// <summary>struct io_uring_cqe: 16 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringCqe
    {
        public ulong UserData;
        public int Res;
        public uint Flags;
    }

    /// <summary>struct io_uring_probe header: 16 bytes, followed by ops_len io_uring_probe_op (8 bytes each).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringProbe
    {
        public byte LastOp;
        public byte OpsLen;
        public ushort Resv;
        public uint Resv2a;
        public uint Resv2b;
        public uint Resv2c;
    }

    /// <summary>struct io_uring_probe_op: 8 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringProbeOp
    {
        public byte Op;
        public byte Resv;
        public ushort Flags;
        public uint Resv2;
    }
}
