using System.Runtime.InteropServices;

using Perf.Batch;

namespace Perf.Host;

// bpf(2), from the Linux UAPI (include/uapi/linux/bpf.h). glibc has no wrapper: the call goes through syscall(2).
internal static unsafe partial class HostInterop
{
    internal static partial class Bpf
    {
        internal const int BPF_PROG_LOAD = 5;
        internal const int BPF_OBJ_PIN = 6;
        internal const int BPF_PROG_ATTACH = 8;
        internal const int BPF_PROG_DETACH = 9;
        internal const int BPF_PROG_GET_FD_BY_ID = 13;
        internal const int BPF_OBJ_GET_INFO_BY_FD = 15;
        internal const int BPF_PROG_QUERY = 16;

        internal const uint BPF_PROG_TYPE_SCHED_CLS = 3;

        // enum bpf_attach_type: tcx came with Linux 6.6.
        internal const uint BPF_TCX_INGRESS = 46;
        internal const uint BPF_TCX_EGRESS = 47;

        /// <summary>BPF_OBJ_NAME_LEN: a program name is 15 characters and a NUL.</summary>
        internal const int ObjNameLength = 16;

        // The bpf syscall number differs by architecture.
        private static readonly long s_sysBpf = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 280 : 321;

        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall(long number, long cmd, void* attr, long size);

        /// <summary>bpf(cmd, attr, size): the result (a new fd, a count, 0), or -1 with errno.</summary>
        internal static int Call(int cmd, void* attr, int size) => (int)Syscall(s_sysBpf, cmd, attr, size);
    }

    /// <summary>struct bpf_insn: 8 bytes; dst_reg is the low nibble of the second byte.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct BpfInsn
    {
        public byte Code;
        public byte Regs;
        public short Off;
        public int Imm;

        internal BpfInsn(byte code, int dst, int src, short off, int imm)
        {
            Code = code;
            Regs = (byte)((src << 4) | dst);
            Off = off;
            Imm = imm;
        }
    }

    /// <summary>union bpf_attr, BPF_PROG_LOAD: the fields up to expected_attach_type (72 bytes used of 128 passed).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    internal struct BpfProgLoadAttr
    {
        [FieldOffset(0)] public uint ProgType;
        [FieldOffset(4)] public uint InsnCnt;
        [FieldOffset(8)] public ulong Insns;
        [FieldOffset(16)] public ulong License;
        [FieldOffset(24)] public uint LogLevel;
        [FieldOffset(28)] public uint LogSize;
        [FieldOffset(32)] public ulong LogBuf;
        [FieldOffset(40)] public uint KernVersion;
        [FieldOffset(44)] public uint ProgFlags;
        [FieldOffset(48)] public fixed byte ProgName[16];
        [FieldOffset(64)] public uint ProgIfindex;
        [FieldOffset(68)] public uint ExpectedAttachType;
    }

    /// <summary>union bpf_attr, BPF_PROG_ATTACH/DETACH (6.6+: target_ifindex, relative_fd, expected_revision): 32 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    internal struct BpfProgAttachAttr
    {
        [FieldOffset(0)] public uint TargetIfindex;
        [FieldOffset(4)] public uint AttachBpfFd;
        [FieldOffset(8)] public uint AttachType;
        [FieldOffset(12)] public uint AttachFlags;
        [FieldOffset(16)] public uint ReplaceBpfFd;
        [FieldOffset(20)] public uint RelativeFd;
        [FieldOffset(24)] public ulong ExpectedRevision;
    }

    /// <summary>union bpf_attr, BPF_PROG_QUERY (6.6+ layout; the kernel reads what it knows): 64 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    internal struct BpfProgQueryAttr
    {
        [FieldOffset(0)] public uint TargetIfindex;
        [FieldOffset(4)] public uint AttachType;
        [FieldOffset(8)] public uint QueryFlags;
        [FieldOffset(12)] public uint AttachFlags;
        [FieldOffset(16)] public ulong ProgIds;
        [FieldOffset(24)] public uint ProgCnt;
        [FieldOffset(32)] public ulong ProgAttachFlags;
        [FieldOffset(40)] public ulong LinkIds;
        [FieldOffset(48)] public ulong LinkAttachFlags;
        [FieldOffset(56)] public ulong Revision;
    }

    /// <summary>union bpf_attr, BPF_PROG_GET_FD_BY_ID: prog_id, next_id, open_flags.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 16)]
    internal struct BpfGetFdByIdAttr
    {
        [FieldOffset(0)] public uint ProgId;
        [FieldOffset(4)] public uint NextId;
        [FieldOffset(8)] public uint OpenFlags;
    }

    /// <summary>union bpf_attr, BPF_OBJ_GET_INFO_BY_FD: 16 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 16)]
    internal struct BpfObjInfoAttr
    {
        [FieldOffset(0)] public uint BpfFd;
        [FieldOffset(4)] public uint InfoLen;
        [FieldOffset(8)] public ulong Info;
    }

    /// <summary>union bpf_attr, BPF_OBJ_PIN: pathname, bpf_fd, file_flags.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 24)]
    internal struct BpfObjPinAttr
    {
        [FieldOffset(0)] public ulong Pathname;
        [FieldOffset(8)] public uint BpfFd;
        [FieldOffset(12)] public uint FileFlags;
    }

    /// <summary>struct bpf_prog_info, the head of it that is read here: type, id, tag[8] at 8, name[16] at 64.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 96)]
    internal struct BpfProgInfo
    {
        [FieldOffset(0)] public uint Type;
        [FieldOffset(4)] public uint Id;
        [FieldOffset(8)] public fixed byte Tag[8];
        [FieldOffset(16)] public uint JitedProgLen;
        [FieldOffset(20)] public uint XlatedProgLen;
        [FieldOffset(64)] public fixed byte Name[16];
        [FieldOffset(80)] public uint Ifindex;
    }
}
