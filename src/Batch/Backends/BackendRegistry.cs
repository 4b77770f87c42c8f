using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>Builds a backend for one sender; implemented outside this assembly (Perf.Uring).</summary>
internal interface ISendBackendProvider
{
    /// <summary>Creates the backend over the sender's socket, or returns null with the errno that made it unavailable.</summary>
    SendBackend? TryCreate(SafeFdHandle socket, PacketSenderOptions options, out int errno, out string? detail);
}

/// <summary>
/// Where Perf.Uring registers its io_uring backend. Perf.Batch never references Perf.Uring: when io_uring is asked for
/// (or Auto), the provider is found by name, so an application that ships Perf.Uring gets it, and one that does not falls
/// back to sendmmsg (Auto) or gets a clear error (IoUring).
/// </summary>
internal static class BackendRegistry
{
    private const string UringProviderType = "Perf.Uring.UringBackendProvider, Perf.Uring";
    private static ISendBackendProvider? s_ioUring;
    private static bool s_looked;

    internal static void RegisterIoUring(ISendBackendProvider provider) => s_ioUring = provider;

    internal static ISendBackendProvider? IoUring
    {
        get
        {
            if (s_ioUring is null && !s_looked)
            {
                s_looked = true;
                LoadIoUring();
            }

            return s_ioUring;
        }
    }

    [UnconditionalSuppressMessage("Trimming", "IL2057", Justification = "A constant type name, rooted by the DynamicDependency below.")]
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, "Perf.Uring.UringBackendProvider", "Perf.Uring")]
    private static void LoadIoUring()
    {
        Type? t = Type.GetType(UringProviderType, throwOnError: false);
        if (t is not null)
        {
            RuntimeHelpers.RunClassConstructor(t.TypeHandle); // its static constructor registers it
        }
    }
}
