using Perf.Batch;

namespace Perf.Uring;

/// <summary>Registers the io_uring backend with Perf.Batch when this assembly is loaded.</summary>
internal sealed class UringBackendProvider : ISendBackendProvider
{
    static UringBackendProvider() => BackendRegistry.RegisterIoUring(new UringBackendProvider());

    [ThreadStatic]
    private static int t_setupFault;

    /// <summary>Test seam, per thread: a non-zero errno makes io_uring setup fail with it (e.g. ENOSYS).</summary>
    internal static int SetupFault { get => t_setupFault; set => t_setupFault = value; }

    /// <summary>Makes sure the provider is registered (its static constructor does it).</summary>
    internal static void EnsureRegistered() => System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(UringBackendProvider).TypeHandle);

    public SendBackend? TryCreate(SafeFdHandle socket, int sendBufferBytes, PacketSenderOptions options, out int errno, out string? detail)
    {
        try
        {
            if (t_setupFault != 0)
            {
                ThrowHelperUring.Setup(t_setupFault);
            }

            errno = 0;
            detail = null;
            return new UringSendBackend(socket, sendBufferBytes, options);
        }
        catch (PerfSocketException e)
        {
            errno = e.Errno;
            detail = e.Message;
            return null;
        }
    }
}
