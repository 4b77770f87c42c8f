using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Perf.Batch;
using static Perf.Uring.Interop;
using static Perf.Uring.Interop.Uring;

namespace Perf.Uring;

/// <summary>
/// One io_uring instance: the ring fd, the shared SQ/CQ ring mapping (IORING_FEAT_SINGLE_MMAP) and the SQE array,
/// mapped once and unmapped exactly once. Shaped after liburing's setup.c (io_uring_mmap) and queue.c.
/// </summary>
/// <remarks>Not thread-safe: one owner submits and reaps.</remarks>
internal sealed unsafe partial class UringRing : IDisposable
{
    private readonly SafeFdHandle _fd;
    private byte* _ringMem;
    private nuint _ringSize;
    private IoUringSqe* _sqes;
    private nuint _sqesSize;

    private uint* _sqHead;
    private uint* _sqTail;
    private uint* _sqFlags;
    private uint* _sqArray;
    private uint _sqMask;
    private uint* _cqHead;
    private uint* _cqTail;
    private IoUringCqe* _cqes;
    private uint _cqMask;
    private uint _sqTailLocal; // our copy; published with a release store
    private bool _registerRing;     // asked for: register the ring fd on the first submitting thread
    private int _registeredIndex;   // its index in that thread's table (IORING_REGISTER_RING_FDS)
    private int _registeredThread;  // the managed thread that registered it; 0 while none did

    internal UringRing(uint entries, uint flags, uint sqThreadIdleMs)
    {
        IoUringParams p = default;
        // The CQ is at least twice the SQ, so a full batch of zero-copy sends (two CQEs each) cannot overflow it.
        p.Flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.CqEntries = entries * 2;
        p.SqThreadIdle = sqThreadIdleMs;
        int fd = Setup(entries, &p);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            ThrowHelperUring.Setup(errno);
        }

        _fd = new SafeFdHandle(fd);
        try
        {
            if ((p.Features & IORING_FEAT_SINGLE_MMAP) == 0)
            {
                ThrowHelperUring.Throw("io_uring_setup", Errno.EOPNOTSUPP, "This kernel lacks IORING_FEAT_SINGLE_MMAP (Linux 5.4+).");
            }

            SqEntries = p.SqEntries;
            CqEntries = p.CqEntries;
            Features = p.Features;
            Flags = p.Flags;
            _ringSize = Math.Max(p.SqOff.Array + (p.SqEntries * sizeof(uint)), p.CqOff.Cqes + (p.CqEntries * (uint)sizeof(IoUringCqe)));
            _ringMem = (byte*)Map(_ringSize, IORING_OFF_SQ_RING);
            _sqesSize = p.SqEntries * (nuint)sizeof(IoUringSqe);
            _sqes = (IoUringSqe*)Map(_sqesSize, IORING_OFF_SQES);

            _sqHead = (uint*)(_ringMem + p.SqOff.Head);
            _sqTail = (uint*)(_ringMem + p.SqOff.Tail);
            _sqFlags = (uint*)(_ringMem + p.SqOff.Flags);
            _sqArray = (uint*)(_ringMem + p.SqOff.Array);
            _sqMask = *(uint*)(_ringMem + p.SqOff.RingMask);
            _cqHead = (uint*)(_ringMem + p.CqOff.Head);
            _cqTail = (uint*)(_ringMem + p.CqOff.Tail);
            _cqes = (IoUringCqe*)(_ringMem + p.CqOff.Cqes);
            _cqMask = *(uint*)(_ringMem + p.CqOff.RingMask);
            _sqTailLocal = *_sqTail;

            // SQ index i always names SQE i: the indirection array is filled once.
            for (uint i = 0; i < SqEntries; i++)
            {
                _sqArray[i] = i;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    internal uint SqEntries { get; }

    internal uint CqEntries { get; }

    internal uint Features { get; }

    internal uint Flags { get; }


    internal bool SqPoll => (Flags & IORING_SETUP_SQPOLL) != 0;

    private void* Map(nuint size, long offset)
    {
        void* p = Batch.Interop.Sys.Mmap(null, size, Batch.Interop.PROT_READ | Batch.Interop.PROT_WRITE, Batch.Interop.MAP_SHARED | Batch.Interop.MAP_POPULATE, _fd.Fd, offset);
        if (p == (void*)-1)
        {
            ThrowHelperUring.Throw("mmap(io_uring)", Marshal.GetLastPInvokeError());
        }

        return p;
    }

    /// <summary>Whether the kernel implements <paramref name="opcode"/> (IORING_REGISTER_PROBE), as liburing's io_uring_opcode_supported.</summary>
    internal bool Supports(byte opcode)
    {
        const int Ops = 256;
        int size = sizeof(IoUringProbe) + (Ops * sizeof(IoUringProbeOp));
        byte* buf = stackalloc byte[size];
        new Span<byte>(buf, size).Clear();
        if (Register(_fd.Fd, IORING_REGISTER_PROBE, buf, Ops) < 0)
        {
            return false;
        }

        var probe = (IoUringProbe*)buf;
        var ops = (IoUringProbeOp*)(buf + sizeof(IoUringProbe));
        return opcode <= probe->LastOp && opcode < probe->OpsLen && (ops[opcode].Flags & IO_URING_OP_SUPPORTED) != 0;
    }

    /// <summary>
    /// Registers the ring's own fd (IORING_REGISTER_RING_FDS, Linux 5.18+) on the first thread that submits, so its
    /// io_uring_enter calls skip the fd lookup. The registration belongs to that thread alone: other threads enter by
    /// the fd, and a kernel without it leaves every thread on the fd.
    /// </summary>
    internal void RegisterRingOnFirstSubmit() => _registerRing = true;


    // The fd argument and extra flags for io_uring_enter on this thread.
    private (int Fd, uint Flags) EnterTarget()
    {
        if (_registeredThread == 0)
        {
            if (!_registerRing)
            {
                return (_fd.Fd, 0);
            }

            _registerRing = false; // one try, on the first submitting thread
            IoUringRsrcUpdate update = default;
            update.Offset = uint.MaxValue;
            update.Data = (ulong)_fd.Fd;
            if (Register(_fd.Fd, IORING_REGISTER_RING_FDS, &update, 1) != 1)
            {
                return (_fd.Fd, 0);
            }

            _registeredIndex = (int)update.Offset;
            _registeredThread = Environment.CurrentManagedThreadId;
        }

        return Environment.CurrentManagedThreadId == _registeredThread ? (_registeredIndex, IORING_ENTER_REGISTERED_RING) : (_fd.Fd, 0);
    }

    // The registration holds a reference on the ring until it is removed or its thread exits: remove it when that
    // thread disposes the ring.
    private void UnregisterRing()
    {
        if (_registeredThread != 0 && Environment.CurrentManagedThreadId == _registeredThread)
        {
            IoUringRsrcUpdate update = default;
            update.Offset = (uint)_registeredIndex;
            Register(_fd.Fd, IORING_UNREGISTER_RING_FDS, &update, 1);
        }

        _registeredThread = 0;
    }

    /// <summary>Registers one file (the socket) at fixed index 0.</summary>
    internal void RegisterFile(int fd)
    {
        int one = fd;
        if (Register(_fd.Fd, IORING_REGISTER_FILES, &one, 1) < 0)
        {
            ThrowHelperUring.Throw("io_uring_register(IORING_REGISTER_FILES)", Marshal.GetLastPInvokeError());
        }
    }

    public void Dispose()
    {
        if (_fd is { IsClosed: false })
        {
            UnregisterRing();
        }

        // Null the derived pointers before unmapping, so a late read faults at once.
        _sqHead = _sqTail = _sqFlags = _sqArray = _cqHead = _cqTail = null;
        _cqes = null;
        if (_sqes != null)
        {
            Batch.Interop.Sys.Munmap(_sqes, _sqesSize);
            _sqes = null;
        }

        if (_ringMem != null)
        {
            Batch.Interop.Sys.Munmap(_ringMem, _ringSize);
            _ringMem = null;
        }

        _fd?.Dispose();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint LoadAcquire(uint* p) => Volatile.Read(ref *p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRelease(uint* p, uint v) => Volatile.Write(ref *p, v);
}

internal static class ThrowHelperUring
{
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal static void Throw(string operation, int errno, string? detail = null) => throw new PerfSocketException(operation, errno, detail);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal static void Setup(int errno) => throw new PerfSocketException("io_uring_setup", errno, errno switch
    {
        Errno.ENOSYS => "This kernel has no io_uring.",
        Errno.EPERM => "io_uring is refused for this process (kernel.io_uring_disabled, or a seccomp/container policy).",
        Errno.ENOMEM => "Not enough locked memory for the rings (RLIMIT_MEMLOCK).",
        Errno.EINVAL => "A setup flag is not supported by this kernel.",
        _ => null,
    });
}
