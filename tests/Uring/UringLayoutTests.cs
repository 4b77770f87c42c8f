using System.Runtime.InteropServices;
using static Perf.Uring.Interop;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Uring;

/// <summary>io_uring ABI mirrors against include/uapi/linux/io_uring.h (same on x86-64 and arm64).</summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed class UringLayoutTests
{
    [Fact]
    public void Params()
    {
        Assert.Equal(120, Marshal.SizeOf<IoUringParams>());
        Assert.Equal(0, Off<IoUringParams>("SqEntries"));
        Assert.Equal(4, Off<IoUringParams>("CqEntries"));
        Assert.Equal(8, Off<IoUringParams>("Flags"));
        Assert.Equal(16, Off<IoUringParams>("SqThreadIdle"));
        Assert.Equal(20, Off<IoUringParams>("Features"));
        Assert.Equal(40, Off<IoUringParams>("SqOff"));
        Assert.Equal(80, Off<IoUringParams>("CqOff"));
    }

    [Fact]
    public void RingOffsets()
    {
        Assert.Equal(40, Marshal.SizeOf<SqRingOffsets>());
        Assert.Equal(40, Marshal.SizeOf<CqRingOffsets>());
        Assert.Equal(16, Off<SqRingOffsets>("Flags"));
        Assert.Equal(24, Off<SqRingOffsets>("Array"));
        Assert.Equal(32, Off<SqRingOffsets>("UserAddr"));
        Assert.Equal(16, Off<CqRingOffsets>("Overflow"));
        Assert.Equal(20, Off<CqRingOffsets>("Cqes"));
        Assert.Equal(24, Off<CqRingOffsets>("Flags"));
        Assert.Equal(32, Off<CqRingOffsets>("UserAddr"));
    }

    [Fact]
    public void SqeAndCqe()
    {
        Assert.Equal(64, Marshal.SizeOf<IoUringSqe>());
        Assert.Equal(0, Off<IoUringSqe>("Opcode"));
        Assert.Equal(1, Off<IoUringSqe>("Flags"));
        Assert.Equal(4, Off<IoUringSqe>("Fd"));
        Assert.Equal(16, Off<IoUringSqe>("Addr"));
        Assert.Equal(24, Off<IoUringSqe>("Len"));
        Assert.Equal(28, Off<IoUringSqe>("MsgFlags"));
        Assert.Equal(32, Off<IoUringSqe>("UserData"));
        Assert.Equal(44, Off<IoUringSqe>("FileIndex"));
        Assert.Equal(16, Marshal.SizeOf<IoUringCqe>());
        Assert.Equal(8, Off<IoUringCqe>("Res"));
        Assert.Equal(12, Off<IoUringCqe>("Flags"));
        Assert.Equal(16, Marshal.SizeOf<IoUringProbe>());
        Assert.Equal(8, Marshal.SizeOf<IoUringProbeOp>());
    }

    [Fact]
    public void Constants()
    {
        Assert.Equal(9, Perf.Uring.Interop.Uring.IORING_OP_SENDMSG);
        Assert.Equal(48, Perf.Uring.Interop.Uring.IORING_OP_SENDMSG_ZC);
        Assert.Equal(425, Perf.Uring.Interop.Uring.SYS_io_uring_setup);
        Assert.Equal(0x10000000, Perf.Uring.Interop.Uring.IORING_OFF_SQES);
        Assert.Equal(8192u, Perf.Uring.Interop.Uring.IORING_SETUP_DEFER_TASKRUN);
        Assert.Equal(4096u, Perf.Uring.Interop.Uring.IORING_SETUP_SINGLE_ISSUER);
        Assert.Equal(8u, Perf.Uring.Interop.Uring.IORING_CQE_F_NOTIF);
    }

    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}
