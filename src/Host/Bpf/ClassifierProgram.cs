using System.Runtime.InteropServices;

using Perf.Batch;

namespace Perf.Host;

/// <summary>
/// The two tc classifiers as eBPF instructions, loaded in-process with bpf(BPF_PROG_LOAD): no compiler, no file.
/// <c>Bpf/mark_to_priority.bpf.c</c> and <c>Bpf/priority_to_mark.bpf.c</c> are their C sources, kept as documentation;
/// a test checks that clang compiles them to exactly these instructions.
/// </summary>
internal static unsafe class ClassifierProgram
{
    // struct __sk_buff offsets (linux/bpf.h): mark is the third u32, priority the ninth.
    private const short SkbMark = 8;
    private const short SkbPriority = 32;

    // Opcodes: BPF_LDX|BPF_MEM|BPF_W, BPF_STX|BPF_MEM|BPF_W, BPF_JMP|BPF_JEQ|BPF_K, BPF_ALU64|BPF_MOV|BPF_K, BPF_JMP|BPF_EXIT.
    private const byte LoadWord = 0x61;
    private const byte StoreWord = 0x63;
    private const byte JumpIfEqualImm = 0x15;
    private const byte Move64Imm = 0xb7;
    private const byte Exit = 0x95;

    /// <summary>TC_ACT_OK: the packet goes on to the qdisc.</summary>
    private const int TcActOk = 0;

    /// <summary>mark_to_priority, for clsact egress: a non-zero skb->mark becomes skb->priority.</summary>
    internal static readonly HostInterop.BpfInsn[] MarkToPriority =
    [
        new(LoadWord, dst: 2, src: 1, SkbMark, 0),       // r2 = skb->mark
        new(JumpIfEqualImm, dst: 2, src: 0, 1, 0),       // if r2 == 0 skip the store
        new(StoreWord, dst: 1, src: 2, SkbPriority, 0),  // skb->priority = r2
        new(Move64Imm, dst: 0, src: 0, 0, TcActOk),      // r0 = TC_ACT_OK
        new(Exit, dst: 0, src: 0, 0, 0),
    ];

    /// <summary>priority_to_mark, for clsact ingress on lo: skb->priority becomes skb->mark (the SO_RCVMARK echo).</summary>
    internal static readonly HostInterop.BpfInsn[] PriorityToMark =
    [
        new(LoadWord, dst: 2, src: 1, SkbPriority, 0),   // r2 = skb->priority
        new(StoreWord, dst: 1, src: 2, SkbMark, 0),      // skb->mark = r2
        new(Move64Imm, dst: 0, src: 0, 0, TcActOk),
        new(Exit, dst: 0, src: 0, 0, 0),
    ];

    /// <summary>
    /// Loads <paramref name="program"/> as a BPF_PROG_TYPE_SCHED_CLS program named <paramref name="name"/> (GPL).
    /// A verifier rejection reads the verifier's log into the error.
    /// </summary>
    /// <exception cref="PerfSocketException">The kernel refused it: EPERM without CAP_BPF and CAP_NET_ADMIN, or the verifier.</exception>
    internal static SafeFdHandle Load(ReadOnlySpan<HostInterop.BpfInsn> program, string name)
    {
        int fd = TryLoad(program, name, log: null, out int errno);
        if (fd >= 0)
        {
            return new SafeFdHandle(fd);
        }

        if (errno == Errno.EPERM)
        {
            ThrowHelper.ThrowSocket("bpf(BPF_PROG_LOAD, " + name + ")", errno, "Loading a tc classifier needs CAP_BPF and CAP_NET_ADMIN (run as root).");
        }

        // Load again with the verifier's log on, so the error says why.
        byte[] log = new byte[64 * 1024];
        fd = TryLoad(program, name, log, out int again);
        if (fd >= 0)
        {
            return new SafeFdHandle(fd);
        }

        int end = Array.IndexOf(log, (byte)0);
        string text = System.Text.Encoding.ASCII.GetString(log, 0, end < 0 ? log.Length : end).Trim();
        ThrowHelper.ThrowSocket("bpf(BPF_PROG_LOAD, " + name + ")", again, text.Length == 0 ? null : "The verifier said: " + text.ReplaceLineEndings(" | "));
        return null!;
    }

    private static int TryLoad(ReadOnlySpan<HostInterop.BpfInsn> program, string name, byte[]? log, out int errno)
    {
        ReadOnlySpan<byte> license = "GPL\0"u8;
        HostInterop.BpfProgLoadAttr attr = default;
        attr.ProgType = HostInterop.Bpf.BPF_PROG_TYPE_SCHED_CLS;
        attr.InsnCnt = (uint)program.Length;
        for (int i = 0; i < name.Length && i < HostInterop.Bpf.ObjNameLength - 1; i++)
        {
            attr.ProgName[i] = (byte)name[i];
        }

        fixed (HostInterop.BpfInsn* insns = program)
        fixed (byte* lic = license)
        fixed (byte* buf = log)
        {
            attr.Insns = (ulong)insns;
            attr.License = (ulong)lic;
            if (log is not null)
            {
                attr.LogLevel = 1;
                attr.LogSize = (uint)log.Length;
                attr.LogBuf = (ulong)buf;
            }

            int fd = HostInterop.Bpf.Call(HostInterop.Bpf.BPF_PROG_LOAD, &attr, sizeof(HostInterop.BpfProgLoadAttr));
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            return fd;
        }
    }

    /// <summary>The name (at most 15 characters) of the loaded program <paramref name="id"/>, or null when it cannot be read.</summary>
    internal static string? NameOf(uint id)
    {
        using SafeFdHandle? program = Open(id);
        return program is null ? null : NameOf(program);
    }

    internal static string? NameOf(SafeFdHandle program)
    {
        HostInterop.BpfProgInfo info = default;
        HostInterop.BpfObjInfoAttr attr = default;
        attr.BpfFd = (uint)program.Fd;
        attr.InfoLen = (uint)sizeof(HostInterop.BpfProgInfo);
        attr.Info = (ulong)&info;
        if (HostInterop.Bpf.Call(HostInterop.Bpf.BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(HostInterop.BpfObjInfoAttr)) != 0)
        {
            return null;
        }

        var name = new ReadOnlySpan<byte>(info.Name, HostInterop.Bpf.ObjNameLength);
        int end = name.IndexOf((byte)0);
        return System.Text.Encoding.ASCII.GetString(end < 0 ? name : name[..end]);
    }

    /// <summary>An fd for the loaded program <paramref name="id"/> (needs CAP_SYS_ADMIN), or null.</summary>
    internal static SafeFdHandle? Open(uint id)
    {
        HostInterop.BpfGetFdByIdAttr byId = default;
        byId.ProgId = id;
        int fd = HostInterop.Bpf.Call(HostInterop.Bpf.BPF_PROG_GET_FD_BY_ID, &byId, sizeof(HostInterop.BpfGetFdByIdAttr));
        return fd < 0 ? null : new SafeFdHandle(fd);
    }
}
