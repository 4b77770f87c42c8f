using Microsoft.Win32.SafeHandles;
using Perf.Batch;

namespace Perf.Host;

/// <summary>
/// Creates senders and receivers inside a named network namespace (one made by <c>ip netns add NAME</c>).
/// A socket keeps the namespace it was created in for life, so it can be used from any thread afterwards.
/// </summary>
public static class NetworkNamespace
{
    /// <summary>
    /// Runs <paramref name="create"/> on a fresh thread that has entered <c>/run/netns/<paramref name="name"/></c>
    /// (setns needs CAP_SYS_ADMIN), and returns its result. The thread ends afterwards, so no pooled thread is left
    /// in the namespace.
    /// </summary>
    public static T Run<T>(string name, Func<T> create)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(create);
        string path = "/run/netns/" + name;
        using SafeFileHandle ns = File.OpenHandle(path);
        return NamespaceThread.Run(ns, path, create);
    }
}
