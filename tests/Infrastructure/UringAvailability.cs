using Perf.Batch;

namespace Perf.Tests.Infrastructure;

/// <summary>Whether io_uring can be set up here; tests of the io_uring backend skip with this reason where it cannot.</summary>
internal static class UringAvailability
{
    private static readonly Lazy<string?> s_reason = new(() =>
    {
        try
        {
            using PacketSender probe = PacketSender.Create(new PacketSenderOptions { Backend = SendBackendKind.IoUring });
            return null;
        }
        catch (PerfSocketException e)
        {
            return "io_uring is not available here: " + e.Message;
        }
    });

    /// <summary>Null when io_uring works; otherwise why not.</summary>
    internal static string? Reason => s_reason.Value;
}
