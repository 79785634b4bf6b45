// No browser download: this library drives an installed Chrome (see README).
module.exports = { skipDownload: true };
