using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// A network namespace this test run created, with a unique name, deleted on dispose.
/// Sockets are created inside it from a dedicated thread that setns(2)s in; a socket keeps its namespace for life.
/// </summary>
internal sealed partial class NetNs : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;

    private NetNs(string name) => Name = name;

    internal string Name { get; }

    /// <summary>Why namespaces cannot be used here, or null when they can.</summary>
    internal static string? Unavailable()
    {
        if (!Host.IsRoot)
        {
            return "needs root to create network namespaces";
        }

        if (!Host.HasTool("ip") || !Host.HasTool("tc"))
        {
            return "needs iproute2 (ip, tc)";
        }

        return null;
    }

    internal static NetNs Create(string tag)
    {
        string name = "perf-" + tag + "-" + Guid.NewGuid().ToString("N")[..8];
        Host.Sh("ip netns add " + name);
        var ns = new NetNs(name);
        try
        {
            ns.Exec("ip link set lo up");
        }
        catch
        {
            ns.Dispose();
            throw;
        }

        return ns;
    }

    internal string Exec(string command) => Host.Sh("ip netns exec " + Name + " " + command);

    /// <summary>Runs <paramref name="func"/> on a fresh thread that has entered this namespace.</summary>
    internal T Run<T>(Func<T> func)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using SafeFileHandle h = File.OpenHandle("/run/netns/" + Name);
                if (setns((int)h.DangerousGetHandle(), CLONE_NEWNET) != 0)
                {
                    throw new InvalidOperationException("setns " + Name + ": errno " + Marshal.GetLastPInvokeError());
                }

                result = func();
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        thread.Start();
        thread.Join();
        if (error is not null)
        {
            throw new InvalidOperationException("in namespace " + Name + ": " + error.Message, error);
        }

        return result;
    }

    public void Dispose() => Host.Run("ip", ["netns", "del", Name], TimeSpan.FromSeconds(30));

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
