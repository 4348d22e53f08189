//! `wasi:filesystem` for modules: wasmtime-wasi's read-only preopens, with every operation
//! that touches the disk (open, stat, read, directory listing …) bounded by the call's I/O
//! budget (`io_timeout_ms`), as the streams of [`super::io`] are.
//!
//! wasmtime-wasi runs each such operation on tokio's blocking pool and waits for it; here
//! the wait is bounded. An operation that outlives the budget — a FIFO opened for reading
//! that nobody writes, a hung network mount — ends the call with [`IoTimeout`]; the
//! blocked operation finishes (or stays blocked) on the pool, never on the thread that
//! runs modules.
//!
//! Those operations run on the module's own blocking threads ([`super::blocking`]): while
//! all of them are busy an operation is refused at once ([`BlockingBusy`]). Opening a file
//! or a directory listing, or a stream on a file, counts against the module's
//! `max_descriptors` ([`super::holdings`]).
//!
//! [`IoTimeout`]: super::io::IoTimeout
//! [`BlockingBusy`]: super::blocking::BlockingBusy

use super::blocking::ModuleIo;
use super::holdings::Holdings;
use super::io::{wait, IoBudget};
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::types as fs;
use wasmtime_wasi::p2::bindings::sync::filesystem::types as sync_fs;
use wasmtime_wasi::p2::bindings::sync::io::streams;
use wasmtime_wasi::p2::{FsError, FsResult};

/// What the `wasi:filesystem/types` host functions reach: the instance's preopens and
/// resources, and its budget.
pub(crate) struct BoundedFs<'a> {
    /// wasmtime-wasi's view of the instance's filesystem.
    pub fs: WasiFilesystemCtxView<'a>,
    /// The current call's budget.
    pub budget: &'a mut IoBudget,
    /// What the instance holds.
    pub holdings: &'a mut Holdings,
    /// The module's I/O runtime, whose blocking threads run the operations.
    pub io: Option<&'a ModuleIo>,
}

/// [`HasData`] for [`BoundedFs`].
pub(crate) struct BoundedFilesystem;

impl HasData for BoundedFilesystem {
    type Data<'a> = BoundedFs<'a>;
}

/// Runs a filesystem operation on one of the module's blocking threads, refused at once if
/// none is free, and waits for it within what is left of `budget`.
fn bounded<T: Send>(
    io: Option<&ModuleIo>,
    budget: &mut IoBudget,
    operation: impl std::future::Future<Output = FsResult<T>> + Send,
) -> FsResult<T> {
    if let Some(io) = io {
        io.slot().map_err(FsError::trap)?;
    }
    wait(budget, operation).map_err(FsError::trap)?
}

impl BoundedFs<'_> {
    /// Checks that the module may open one more descriptor.
    fn may_open(&mut self) -> FsResult<()> {
        self.holdings
            .descriptor(self.fs.table)
            .map_err(FsError::trap)
    }
}

type Fd = Resource<sync_fs::Descriptor>;

impl sync_fs::Host for BoundedFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<sync_fs::ErrorCode> {
        sync_fs::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<streams::Error>,
    ) -> wasmtime::Result<Option<sync_fs::ErrorCode>> {
        sync_fs::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl sync_fs::HostDescriptor for BoundedFs<'_> {
    fn advise(
        &mut self,
        fd: Fd,
        offset: sync_fs::Filesize,
        len: sync_fs::Filesize,
        advice: sync_fs::Advice,
    ) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::advise(fs, fd, offset, len, advice.into()),
        )
    }

    fn sync_data(&mut self, fd: Fd) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(self.io, self.budget, fs::HostDescriptor::sync_data(fs, fd))
    }

    fn get_flags(&mut self, fd: Fd) -> FsResult<sync_fs::DescriptorFlags> {
        let fs = &mut self.fs;
        bounded(self.io, self.budget, fs::HostDescriptor::get_flags(fs, fd)).map(Into::into)
    }

    fn get_type(&mut self, fd: Fd) -> FsResult<sync_fs::DescriptorType> {
        let fs = &mut self.fs;
        bounded(self.io, self.budget, fs::HostDescriptor::get_type(fs, fd)).map(Into::into)
    }

    fn set_size(&mut self, fd: Fd, size: sync_fs::Filesize) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::set_size(fs, fd, size),
        )
    }

    fn set_times(
        &mut self,
        fd: Fd,
        atim: sync_fs::NewTimestamp,
        mtim: sync_fs::NewTimestamp,
    ) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::set_times(fs, fd, atim.into(), mtim.into()),
        )
    }

    fn read(
        &mut self,
        fd: Fd,
        len: sync_fs::Filesize,
        offset: sync_fs::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::read(fs, fd, len, offset),
        )
    }

    fn write(
        &mut self,
        fd: Fd,
        buf: Vec<u8>,
        offset: sync_fs::Filesize,
    ) -> FsResult<sync_fs::Filesize> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::write(fs, fd, buf, offset),
        )
    }

    fn read_directory(&mut self, fd: Fd) -> FsResult<Resource<sync_fs::DirectoryEntryStream>> {
        self.may_open()?;
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::read_directory(fs, fd),
        )
    }

    fn sync(&mut self, fd: Fd) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(self.io, self.budget, fs::HostDescriptor::sync(fs, fd))
    }

    fn create_directory_at(&mut self, fd: Fd, path: String) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::create_directory_at(fs, fd, path),
        )
    }

    fn stat(&mut self, fd: Fd) -> FsResult<sync_fs::DescriptorStat> {
        let fs = &mut self.fs;
        bounded(self.io, self.budget, fs::HostDescriptor::stat(fs, fd)).map(Into::into)
    }

    fn stat_at(
        &mut self,
        fd: Fd,
        path_flags: sync_fs::PathFlags,
        path: String,
    ) -> FsResult<sync_fs::DescriptorStat> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::stat_at(fs, fd, path_flags.into(), path),
        )
        .map(Into::into)
    }

    fn set_times_at(
        &mut self,
        fd: Fd,
        path_flags: sync_fs::PathFlags,
        path: String,
        atim: sync_fs::NewTimestamp,
        mtim: sync_fs::NewTimestamp,
    ) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::set_times_at(
                fs,
                fd,
                path_flags.into(),
                path,
                atim.into(),
                mtim.into(),
            ),
        )
    }

    fn link_at(
        &mut self,
        fd: Fd,
        old_path_flags: sync_fs::PathFlags,
        old_path: String,
        new_descriptor: Fd,
        new_path: String,
    ) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::link_at(
                fs,
                fd,
                old_path_flags.into(),
                old_path,
                new_descriptor,
                new_path,
            ),
        )
    }

    fn open_at(
        &mut self,
        fd: Fd,
        path_flags: sync_fs::PathFlags,
        path: String,
        oflags: sync_fs::OpenFlags,
        flags: sync_fs::DescriptorFlags,
    ) -> FsResult<Fd> {
        self.may_open()?;
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::open_at(
                fs,
                fd,
                path_flags.into(),
                path,
                oflags.into(),
                flags.into(),
            ),
        )
    }

    fn drop(&mut self, fd: Fd) -> wasmtime::Result<()> {
        fs::HostDescriptor::drop(&mut self.fs, fd)
    }

    fn readlink_at(&mut self, fd: Fd, path: String) -> FsResult<String> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::readlink_at(fs, fd, path),
        )
    }

    fn remove_directory_at(&mut self, fd: Fd, path: String) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::remove_directory_at(fs, fd, path),
        )
    }

    fn rename_at(
        &mut self,
        fd: Fd,
        old_path: String,
        new_fd: Fd,
        new_path: String,
    ) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::rename_at(fs, fd, old_path, new_fd, new_path),
        )
    }

    fn symlink_at(&mut self, fd: Fd, src_path: String, dest_path: String) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::symlink_at(fs, fd, src_path, dest_path),
        )
    }

    fn unlink_file_at(&mut self, fd: Fd, path: String) -> FsResult<()> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::unlink_file_at(fs, fd, path),
        )
    }

    fn read_via_stream(
        &mut self,
        fd: Fd,
        offset: sync_fs::Filesize,
    ) -> FsResult<Resource<streams::InputStream>> {
        self.may_open()?;
        let stream = sync_fs::HostDescriptor::read_via_stream(&mut self.fs, fd, offset)?;
        self.holdings.file_stream_opened(stream.rep());
        Ok(stream)
    }

    fn write_via_stream(
        &mut self,
        fd: Fd,
        offset: sync_fs::Filesize,
    ) -> FsResult<Resource<streams::OutputStream>> {
        self.may_open()?;
        let stream = sync_fs::HostDescriptor::write_via_stream(&mut self.fs, fd, offset)?;
        self.holdings.file_stream_opened(stream.rep());
        Ok(stream)
    }

    fn append_via_stream(&mut self, fd: Fd) -> FsResult<Resource<streams::OutputStream>> {
        self.may_open()?;
        let stream = sync_fs::HostDescriptor::append_via_stream(&mut self.fs, fd)?;
        self.holdings.file_stream_opened(stream.rep());
        Ok(stream)
    }

    fn is_same_object(&mut self, a: Fd, b: Fd) -> wasmtime::Result<bool> {
        let fs = &mut self.fs;
        wait(self.budget, fs::HostDescriptor::is_same_object(fs, a, b))?
    }

    fn metadata_hash(&mut self, fd: Fd) -> FsResult<sync_fs::MetadataHashValue> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::metadata_hash(fs, fd),
        )
        .map(Into::into)
    }

    fn metadata_hash_at(
        &mut self,
        fd: Fd,
        path_flags: sync_fs::PathFlags,
        path: String,
    ) -> FsResult<sync_fs::MetadataHashValue> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDescriptor::metadata_hash_at(fs, fd, path_flags.into(), path),
        )
        .map(Into::into)
    }
}

impl sync_fs::HostDirectoryEntryStream for BoundedFs<'_> {
    fn read_directory_entry(
        &mut self,
        stream: Resource<sync_fs::DirectoryEntryStream>,
    ) -> FsResult<Option<sync_fs::DirectoryEntry>> {
        let fs = &mut self.fs;
        bounded(
            self.io,
            self.budget,
            fs::HostDirectoryEntryStream::read_directory_entry(fs, stream),
        )
        .map(|entry| entry.map(Into::into))
    }

    fn drop(&mut self, stream: Resource<sync_fs::DirectoryEntryStream>) -> wasmtime::Result<()> {
        fs::HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}
