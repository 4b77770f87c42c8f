namespace Perf.Batch;

/// <summary>Builds a backend for one sender; implemented outside this assembly (Perf.Uring).</summary>
internal interface ISendBackendProvider
{
    /// <summary>
    /// Creates the backend over the sender's socket, whose send buffer holds <paramref name="sendBufferBytes"/> (SO_SNDBUF
    /// as the kernel set it), or returns null with the errno that made it unavailable.
    /// </summary>
    SendBackend? TryCreate(SafeFdHandle socket, int sendBufferBytes, PacketSenderOptions options, out int errno, out string? detail);
}

/// <summary>
/// Where Perf.Uring registers its io_uring backend. Perf.Batch never references Perf.Uring: when io_uring is asked for
/// (or Auto), the provider is found by name, so an application that ships Perf.Uring gets it, and one that does not falls
/// back to sendmmsg (Auto) or gets a clear error (IoUring).
/// </summary>
internal static class BackendRegistry
{
    private static readonly ProviderSlot<ISendBackendProvider> s_ioUring = new("Perf.Uring.UringBackendProvider, Perf.Uring");

    internal static void RegisterIoUring(ISendBackendProvider provider) => s_ioUring.Register(provider);

    internal static ISendBackendProvider? IoUring => s_ioUring.Value;
}
