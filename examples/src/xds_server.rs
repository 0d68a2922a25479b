//! `meshwork-xds`: a development xDS v3 control plane serving a mesh file over ADS.
