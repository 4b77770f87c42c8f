namespace Perf.Batch;

/// <summary>Which kernel interface sends the batches.</summary>
public enum SendBackendKind
{
    /// <summary>
    /// The fastest measured choice: sendmmsg for plain sends (io_uring SENDMSG is slower per datagram in C and C# alike:
    /// docs/kernels.md, from bench/results); io_uring when the options ask for what only it has (<see cref="IoUringOptions.SqPoll"/>,
    /// <see cref="IoUringOptions.ZeroCopy"/>) and it works, else sendmmsg.
    /// </summary>
    Auto,

    /// <summary>One sendmmsg(2) call per batch.</summary>
    Sendmmsg,

    /// <summary>One IORING_OP_SENDMSG SQE per datagram, a batch per io_uring_enter (needs the Perf.Uring assembly).</summary>
    IoUring,
}

/// <summary>io_uring settings; used only when the io_uring backend runs.</summary>
public sealed record IoUringOptions
{
    /// <summary>
    /// IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN. Only when one thread submits for the ring's whole life: an async
    /// flush that resumes on another thread would then fail with EEXIST. Default false (COOP_TASKRUN instead).
    /// </summary>
    public bool SingleIssuer { get; init; }

    /// <summary>Register the socket with IORING_REGISTER_FILES and send with IOSQE_FIXED_FILE (default true).</summary>
    public bool RegisteredFile { get; init; } = true;

    /// <summary>
    /// Register the ring's own fd (IORING_REGISTER_RING_FDS, Linux 5.18+) so io_uring_enter skips the fd lookup. The
    /// kernel keeps the registration per thread: it is made on the first thread that flushes and used there alone
    /// (other threads enter by the fd), and it holds the ring open until that thread disposes the sender or exits.
    /// Default false: it measured no gain worth that (bench/results).
    /// </summary>
    public bool RegisteredRing { get; init; }

    /// <summary>A kernel thread polls the submission queue (IORING_SETUP_SQPOLL). On 2 cores it competes with the sender.</summary>
    public bool SqPoll { get; init; }

    /// <summary>How long the SQPOLL thread spins before sleeping, in milliseconds. Default 1000.</summary>
    public int SqPollIdleMs { get; init; } = 1000;

    /// <summary>
    /// IORING_OP_SENDMSG_ZC: the kernel sends from the slot's pages and posts a second CQE when it is done with them.
    /// A loss for small datagrams; it pays only for large payloads on real NICs.
    /// </summary>
    public bool ZeroCopy { get; init; }
}
