namespace Perf.Tests.Infrastructure;

/// <summary>A unique path under the temp directory for one report; deleted on dispose.</summary>
internal sealed class TempFile(string extension) : IDisposable
{
    internal string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "perf-" + Guid.NewGuid().ToString("N")[..12] + extension);

    public void Dispose() => File.Delete(Path);
}
