cmake_minimum_required(VERSION 3.25)
# Assembles the page: `npm ci` when node_modules is missing or older than package-lock.json,
# then copies the page's files and uPlot's into DIST (only those that differ), and removes
# files that are no longer part of it.
# Inputs: NPM, SOURCE_DIR, DIST, FILES (paths relative to SOURCE_DIR).
set(installed ${SOURCE_DIR}/node_modules/.package-lock.json)  # npm writes it at each install
if(NOT EXISTS ${installed} OR ${SOURCE_DIR}/package-lock.json IS_NEWER_THAN ${installed})
  message(STATUS "web: npm ci (uPlot) in ${SOURCE_DIR}")
  execute_process(COMMAND ${NPM} ci --no-audit --no-fund --prefer-offline
                  WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE npm_result)
  if(NOT npm_result EQUAL 0)
    message(FATAL_ERROR "web: `npm ci` failed in ${SOURCE_DIR} (is the npm registry reachable?)")
  endif()
endif()

set(wanted)
foreach(file IN LISTS FILES)
  configure_file(${SOURCE_DIR}/${file} ${DIST}/${file} COPYONLY)
  list(APPEND wanted ${DIST}/${file})
endforeach()
foreach(file uPlot.esm.js uPlot.min.css)
  configure_file(${SOURCE_DIR}/node_modules/uplot/dist/${file} ${DIST}/vendor/${file} COPYONLY)
  list(APPEND wanted ${DIST}/vendor/${file})
endforeach()
configure_file(${SOURCE_DIR}/node_modules/uplot/LICENSE ${DIST}/vendor/uPlot.LICENSE.txt COPYONLY)
list(APPEND wanted ${DIST}/vendor/uPlot.LICENSE.txt)

file(GLOB_RECURSE present LIST_DIRECTORIES false ${DIST}/*)
foreach(file IN LISTS present)
  if(NOT file IN_LIST wanted)
    file(REMOVE ${file})
  endif()
endforeach()
